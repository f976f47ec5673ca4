#!/usr/bin/env node
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signToken } from '../auth/jwt.js';
import { generateTlsCertificate } from '../auth/server-cert.js';
import { generateSigningKeyPem, publicKeyPemOf } from '../auth/signing-keys.js';
import { parseDuration } from '../core/duration.js';
import { VERSION } from '../version.js';
import { callApi, describeFailure } from './skiffctl/api-client.js';
import { currentControlPlane, defaultConfigPath, readConfig, writeConfig, type ApiServerCoordinates } from './skiffctl/config-file.js';
import { keyValuePairs, runCli, UsageError } from './run.js';
import { applyCommand, deleteCommand, getCommand, inspectControlPlanes, inspectDataplaneConfig, inspectDataplanes, inspectDataplaneShadowConfig } from './skiffctl/resources.js';

const HELP: Record<string, string> = {
  root: `skiffctl: the command line for the Skiff control plane (kumactl-style)

Usage:
  skiffctl [command]

Commands:
  apply                   Create or update resources from YAML
  get                     Show resources
  delete                  Delete a resource
  inspect                 Show dataplanes with their xDS status, what one is served, or the control planes
  config control-planes   Manage the control planes skiffctl talks to (add, list, switch, remove)
  generate                Generate dataplane tokens, user tokens, signing keys, public keys and TLS certificates
  version                 Print the version

Global flags:
      --config-file string   path to the skiffctl config (default "~/.skiffctl/config")
  -h, --help                 help for any command
`,
  'generate signing-key': `Generate an RSA 2048 signing key for user tokens.

Usage:
  skiffctl generate signing-key [--format=base64|pem]

By default the PEM (PKCS#1) is printed base64-encoded, ready to be the data of a GlobalSecret
"user-token-signing-key-{serial}". With --format=pem it is printed as PEM, for offline issuing.
`,
  'generate public-key': `Print the public key (PKCS#1 PEM) of a signing key, for apiServer.authn.tokens.validator.publicKeys.

Usage:
  skiffctl generate public-key --signing-key-path FILE
`,
  'generate user-token': `Generate a user token.

Usage:
  skiffctl generate user-token --name NAME [--group GROUP]... --valid-for DURATION [--signing-key-path FILE --kid KID]

Without --signing-key-path the control plane issues it (POST /tokens/user, as the current
control plane's user). With --signing-key-path and --kid it is signed offline with that PEM key.
`,
  'generate dataplane-token': `Generate a dataplane token (the control plane issues it, POST /tokens/dataplane).

Usage:
  skiffctl generate dataplane-token --mesh MESH [--name NAME] [--tag KEY=VALUE]... [--valid-for DURATION]

A token with --name admits that dataplane only; with --tag (e.g. kuma.io/service=web) any
dataplane carrying those tags. Without --valid-for it is valid for ten years.
`,
  'generate tls-certificate': `Generate a self-signed TLS certificate and key.

Usage:
  skiffctl generate tls-certificate --type=client|server --cert-file FILE --key-file FILE [--cp-hostname NAME]...

Client certificates serve as admin client certificates (apiServer.authn.type: adminClientCerts);
server certificates are valid for the given --cp-hostname names (default localhost).
`,
  apply: `Create or update resources from YAML (one or many documents).

Usage:
  skiffctl apply -f FILE|- [--var KEY=VALUE]... [--dry-run [-o json|yaml]] [--wait [--timeout 30s]]

{{ KEY }} in the input is replaced by the --var value, as in Kuma's docs. --dry-run sends every
resource through the control plane's validation without storing it, and prints which dataplanes'
configuration it would change (+ added, - removed, ~ modified resources); with -o json or -o yaml,
the whole impact, JSON Patch of each modified resource included. --wait follows each resource's
rollout (acknowledged/concerned proxies) and exits 0 once every proxy it changed ACKed; non-zero
on timeout or when a proxy rejects it (NACK), naming the dataplanes and their errors.
`,
  get: `Show resources.

Usage:
  skiffctl get TYPE [NAME] [--mesh MESH] [-o table|yaml|json]

TYPE: meshes, dataplanes, health-checks, proxytemplates, traffic-logs, traffic-permissions,
traffic-routes, secrets, global-secrets, and the Kuma 2.x policies: meshtrafficpermissions,
meshhttproutes, meshtcproutes, meshretries, meshtimeouts, meshcircuitbreakers, meshhealthchecks,
meshaccesslogs, meshfaultinjections, meshratelimits, meshloadbalancingstrategies,
meshproxypatches, meshtraces, meshmetrics (singular forms and type names work too, e.g.
meshretry, MeshRetry). --mesh defaults to "default".
`,
  delete: `Delete a resource.

Usage:
  skiffctl delete TYPE NAME [--mesh MESH]
`,
  inspect: `Show resources with what the control plane knows of them.

Usage:
  skiffctl inspect dataplanes [--mesh MESH] [-o table|yaml|json]
  skiffctl inspect dataplane NAME --type=config-dump [--mesh MESH]   what its proxy is served now
  skiffctl inspect dataplane NAME --type=config [--shadow] [--include=diff] [--mesh MESH]
      its configuration as generated; with --shadow as it would be with the mesh's shadow policies
      (label kuma.io/effect: shadow), and --include=diff the JSON Patch from today's to that one
  skiffctl inspect control-planes [-o table|yaml|json]   the live control planes on the store, leader first
`,
  'config control-planes': `Manage control planes.

Usage:
  skiffctl config control-planes add --name NAME --address URL [--auth-type=tokens --auth-conf token=TOKEN]
                                     [--ca-cert-file FILE | --skip-verify] [--client-cert-file FILE --client-key-file FILE] [--overwrite]
  skiffctl config control-planes list
  skiffctl config control-planes switch --name NAME
  skiffctl config control-planes remove --name NAME

"add" checks that the address answers as a control plane, verifying its TLS certificate against
--ca-cert-file (or the system trust store) unless --skip-verify is given, and makes it current.
`,
};

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A positive duration flag (`30s`, `2m`) in milliseconds. */
function durationArg(value: string, flag: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new UsageError(`--${flag} must be a duration such as 30s or 2m`);
  return ms;
}

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new UsageError(`required flag --${flag} is missing`);
  return value;
}

async function generate(args: string[], configPath: string): Promise<number> {
  const [what, ...rest] = args;
  const help = HELP[`generate ${what}`];
  if (!help) throw new UsageError(`unknown "generate" subcommand "${what ?? ''}": dataplane-token, signing-key, public-key, user-token, tls-certificate`);
  switch (what) {
    case 'signing-key': {
      const { values } = parseArgs({ args: rest, options: { help: { type: 'boolean', short: 'h' }, format: { type: 'string', default: 'base64' } } });
      if (values.help) return (out(help), 0);
      if (values.format !== 'base64' && values.format !== 'pem') throw new UsageError('--format must be base64 or pem');
      const pem = generateSigningKeyPem();
      out(values.format === 'pem' ? pem : Buffer.from(pem).toString('base64'));
      return 0;
    }
    case 'public-key': {
      const { values } = parseArgs({ args: rest, options: { help: { type: 'boolean', short: 'h' }, 'signing-key-path': { type: 'string' } } });
      if (values.help) return (out(help), 0);
      out(publicKeyPemOf(readKeyFile(required(values['signing-key-path'], 'signing-key-path'))));
      return 0;
    }
    case 'user-token': {
      const { values } = parseArgs({
        args: rest,
        options: {
          help: { type: 'boolean', short: 'h' },
          name: { type: 'string' },
          group: { type: 'string', multiple: true, default: [] },
          'valid-for': { type: 'string' },
          'signing-key-path': { type: 'string' },
          kid: { type: 'string' },
        },
      });
      if (values.help) return (out(help), 0);
      const name = required(values.name, 'name');
      const validFor = required(values['valid-for'], 'valid-for');
      const ms = parseDuration(validFor);
      if (ms === undefined || ms < 1000) throw new UsageError('--valid-for must be a duration such as 24h or 30m');
      if (values['signing-key-path']) {
        const kid = required(values.kid, 'kid');
        const key = createPrivateKey(readKeyFile(values['signing-key-path']));
        out(await signToken({ Name: name, Groups: values.group }, key, kid, Math.floor(ms / 1000)));
        return 0;
      }
      const cp = current(configPath);
      const response = await callApi(cp, 'POST', 'tokens/user', { name, groups: values.group, validFor });
      if (response.status !== 200) throw new Error(`the control plane refused: ${describeFailure(response)}`);
      out(response.body);
      return 0;
    }
    case 'dataplane-token': {
      const { values } = parseArgs({
        args: rest,
        options: {
          help: { type: 'boolean', short: 'h' },
          name: { type: 'string' },
          mesh: { type: 'string' },
          tag: { type: 'string', multiple: true, default: [] },
          'valid-for': { type: 'string' },
        },
      });
      if (values.help) return (out(help), 0);
      const tags: Record<string, string[]> = {};
      for (const [key, value] of keyValuePairs(values.tag, 'tag')) (tags[key] ??= []).push(value);
      const body = { mesh: required(values.mesh, 'mesh'), name: values.name, tags, validFor: values['valid-for'] ?? '' };
      const response = await callApi(current(configPath), 'POST', 'tokens/dataplane', body);
      if (response.status !== 200) throw new Error(`the control plane refused: ${describeFailure(response)}`);
      out(response.body);
      return 0;
    }
    case 'tls-certificate': {
      const { values } = parseArgs({
        args: rest,
        options: {
          help: { type: 'boolean', short: 'h' },
          type: { type: 'string' },
          'cert-file': { type: 'string' },
          'key-file': { type: 'string' },
          'cp-hostname': { type: 'string', multiple: true, default: [] },
        },
      });
      if (values.help) return (out(help), 0);
      const type = required(values.type, 'type');
      if (type !== 'client' && type !== 'server') throw new UsageError('--type must be client or server');
      const pair = await generateTlsCertificate(type, type === 'server' ? (values['cp-hostname'].length ? values['cp-hostname'] : ['localhost']) : []);
      writeFileSync(required(values['key-file'], 'key-file'), pair.keyPem, { mode: 0o600 });
      writeFileSync(required(values['cert-file'], 'cert-file'), pair.certPem);
      out(`Private key saved in ${values['key-file']}\nCertificate saved in ${values['cert-file']}`);
      return 0;
    }
  }
  return 0;
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The current control plane; with none configured, kumactl's default: the local one on 5681. */
function current(configPath: string): ApiServerCoordinates {
  return currentControlPlane(readConfig(configPath))?.apiServer ?? { url: 'http://localhost:5681' };
}

function meshAndOutput(rest: string[]) {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' }, mesh: { type: 'string', short: 'm', default: 'default' }, output: { type: 'string', short: 'o', default: 'table' }, type: { type: 'string' }, shadow: { type: 'boolean', default: false }, include: { type: 'string' } },
  });
  return { values, positionals };
}

async function controlPlanes(args: string[], configPath: string): Promise<number> {
  const [sub, action, ...rest] = args;
  if (sub !== 'control-planes') throw new UsageError('usage: skiffctl config control-planes add|list|switch|remove');
  const config = readConfig(configPath);
  switch (action) {
    case 'add': {
      const { values } = parseArgs({
        args: rest,
        options: {
          help: { type: 'boolean', short: 'h' },
          name: { type: 'string' },
          address: { type: 'string' },
          'auth-type': { type: 'string' },
          'auth-conf': { type: 'string', multiple: true, default: [] },
          'ca-cert-file': { type: 'string' },
          'skip-verify': { type: 'boolean', default: false },
          'client-cert-file': { type: 'string' },
          'client-key-file': { type: 'string' },
          overwrite: { type: 'boolean', default: false },
        },
      });
      if (values.help) return (out(HELP['config control-planes']!), 0);
      const name = required(values.name, 'name');
      const address = required(values.address, 'address');
      if (!/^https?:\/\//.test(address)) throw new UsageError('--address must be an http:// or https:// URL');
      if (values['ca-cert-file'] && values['skip-verify']) throw new UsageError('use either --ca-cert-file or --skip-verify, not both');
      if (Boolean(values['client-cert-file']) !== Boolean(values['client-key-file'])) throw new UsageError('--client-cert-file and --client-key-file go together');
      const authConf = Object.fromEntries(keyValuePairs(values['auth-conf'], 'auth-conf'));
      if (values['auth-type'] !== undefined && values['auth-type'] !== 'tokens') throw new UsageError('--auth-type must be tokens');
      if (values['auth-type'] === 'tokens' && !authConf.token) throw new UsageError('--auth-type=tokens needs --auth-conf token=...');
      const apiServer: ApiServerCoordinates = {
        url: address,
        ...(values['auth-type'] ? { authType: 'tokens' as const, authConf: { token: authConf.token } } : {}),
        ...(values['ca-cert-file'] ? { caCertFile: values['ca-cert-file'] } : {}),
        ...(values['skip-verify'] ? { skipVerify: true } : {}),
        ...(values['client-cert-file'] ? { clientCertFile: values['client-cert-file'], clientKeyFile: values['client-key-file'] } : {}),
      };
      if (config.controlPlanes.some((p) => p.name === name) && !values.overwrite) throw new Error(`Control Plane with name "${name}" already exists. Use --overwrite to replace it.`);
      const index = await callApi(apiServer, 'GET', '');
      if (index.status !== 200 || !/"(product|tagline)"/.test(index.body)) throw new Error(`${address} does not answer as a control plane: ${describeFailure(index)}`);
      config.controlPlanes = [...config.controlPlanes.filter((p) => p.name !== name), { name, coordinates: { apiServer } }];
      config.contexts = [...config.contexts.filter((c) => c.name !== name), { name, controlPlane: name }];
      config.currentContext = name;
      writeConfig(configPath, config);
      out(`added Control Plane "${name}"\nswitched active Control Plane to "${name}"`);
      return 0;
    }
    case 'list': {
      out(['ACTIVE   NAME   ADDRESS', ...config.controlPlanes.map((p) => `${config.contexts.find((c) => c.name === config.currentContext)?.controlPlane === p.name ? '*' : ' '}        ${p.name}   ${p.coordinates.apiServer.url}`)].join('\n'));
      return 0;
    }
    case 'use':
    case 'switch': {
      const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } } });
      const name = required(values.name, 'name');
      if (!config.contexts.some((c) => c.name === name)) throw new Error(`there is no Control Plane named "${name}"`);
      config.currentContext = name;
      writeConfig(configPath, config);
      out(`switched active Control Plane to "${name}"`);
      return 0;
    }
    case 'remove': {
      const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } } });
      const name = required(values.name, 'name');
      config.controlPlanes = config.controlPlanes.filter((p) => p.name !== name);
      config.contexts = config.contexts.filter((c) => c.name !== name);
      if (config.currentContext === name) config.currentContext = config.contexts[0]?.name ?? '';
      writeConfig(configPath, config);
      out(`removed Control Plane "${name}"`);
      return 0;
    }
    default:
      throw new UsageError(`unknown "config control-planes" action "${action ?? ''}": add, list, switch, remove`);
  }
}

async function main(argv: string[]): Promise<number> {
  // The global --config-file flag may stand anywhere.
  let configPath = process.env.SKIFFCTL_CONFIG || defaultConfigPath();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config-file') configPath = argv[++i] ?? '';
    else if (arg.startsWith('--config-file=')) configPath = arg.slice('--config-file='.length);
    else args.push(arg);
  }
  const [command, ...rest] = args;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP.root!);
      return 0;
    case 'version':
      if (wantsHelp) return (out('Print the version.\n\nUsage:\n  skiffctl version [--detailed]\n'), 0);
      out(rest.includes('--detailed') || rest.includes('-a') ? `Product:    skiffctl (Skiff)\nVersion:    ${VERSION}\nBased on:   Kuma 2.14.3 APIs\nNode.js:    ${process.version}` : VERSION);
      return 0;
    case 'generate':
      if (rest.length === 0 || (wantsHelp && rest.length === 1)) return (out(Object.entries(HELP).filter(([k]) => k.startsWith('generate')).map(([, v]) => v).join('\n')), 0);
      return generate(rest, configPath);
    case 'config':
      if (wantsHelp && !rest.includes('add')) return (out(HELP['config control-planes']!), 0);
      return controlPlanes(rest, configPath);
    case 'apply': {
      const { values } = parseArgs({
        args: rest,
        options: { help: { type: 'boolean', short: 'h' }, file: { type: 'string', short: 'f' }, var: { type: 'string', short: 'v', multiple: true, default: [] }, 'dry-run': { type: 'boolean', default: false }, output: { type: 'string', short: 'o' }, wait: { type: 'boolean', default: false }, timeout: { type: 'string', default: '30s' } },
      });
      if (values.help) return (out(HELP.apply!), 0);
      const vars = Object.fromEntries(keyValuePairs(values.var, 'var'));
      out(
        await applyCommand(current(configPath), {
          file: required(values.file, 'file'),
          vars,
          dryRun: values['dry-run'],
          ...(values.output ? { output: values.output } : {}),
          ...(values.wait ? { wait: { timeoutMs: durationArg(values.timeout, 'timeout') } } : {}),
          progress: (line) => process.stderr.write(`${line}\n`),
          readStdin: () => readFileSync(0, 'utf8'),
        }),
      );
      return 0;
    }
    case 'get': {
      const { values, positionals } = meshAndOutput(rest);
      if (values.help) return (out(HELP.get!), 0);
      out(await getCommand(current(configPath), positionals[0], positionals[1], values.mesh, values.output));
      return 0;
    }
    case 'delete': {
      const { values, positionals } = meshAndOutput(rest);
      if (values.help) return (out(HELP.delete!), 0);
      out(await deleteCommand(current(configPath), positionals[0], positionals[1], values.mesh));
      return 0;
    }
    case 'inspect': {
      const { values, positionals } = meshAndOutput(rest);
      if (values.help) return (out(HELP.inspect!), 0);
      const [what, name] = positionals;
      if (what === 'dataplanes') return (out(await inspectDataplanes(current(configPath), values.mesh, values.output)), 0);
      if (what === 'control-planes') return (out(await inspectControlPlanes(current(configPath), values.output)), 0);
      if (what === 'dataplane' && name && values.type === 'config-dump') return (out(await inspectDataplaneConfig(current(configPath), values.mesh, name)), 0);
      if (what === 'dataplane' && name && values.type === 'config') return (out(await inspectDataplaneShadowConfig(current(configPath), values.mesh, name, { shadow: values.shadow, include: values.include })), 0);
      throw new UsageError('usage: skiffctl inspect dataplanes [--mesh M] | skiffctl inspect dataplane NAME --type=config-dump|config [--shadow] [--include=diff] [--mesh M] | skiffctl inspect control-planes');
    }
    default:
      throw new UsageError(`unknown command "${command}" for "skiffctl"`);
  }
}

runCli('skiffctl', main);

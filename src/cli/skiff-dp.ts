#!/usr/bin/env node
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { startAccessLogForwarder } from '../dp/access-log-forwarder.js';
import { keepCertificateFiles, xdsTargetOf } from '../dp/cert-files.js';
import { parse as parseYaml } from 'yaml';
import { accessLogSocketPath } from '../xds/generators/traffic-log.js';
import { VERSION } from '../version.js';
import { callApi, describeFailure } from './skiffctl/api-client.js';
import { runCli, UsageError } from './run.js';

const HELP = `skiff-dp: start an Envoy sidecar configured by the Skiff control plane (kuma-dp-style)

Usage:
  skiff-dp run --cp-address URL --name NAME --mesh MESH --dataplane-token-file FILE [flags]
  skiff-dp certs --cp-address URL --name NAME --mesh MESH --dataplane-token-file FILE --dir DIR [--once]

Flags:
      --cp-address string             control plane API address, e.g. https://cp.example:5682 or http://127.0.0.1:5681;
                                      several, comma-separated (instances on one PostgreSQL), are tried in order
      --name string                   name of the Dataplane
      --mesh string                   mesh of the Dataplane (default "default")
      --dataplane-token-file string   file holding the dataplane token
      --dataplane-file string         Dataplane resource (YAML/JSON) to register at start
      --admin-port int                Envoy admin port (default: the control plane's bootstrapServer.params.adminPort)
      --envoy-binary string           Envoy executable (default "envoy" from PATH)
      --ca-cert-file string           CA to verify the control plane's HTTPS certificate (default: system trust store)
      --skip-verify                   do not verify the control plane's certificate (insecure)
      --dry-run                       print the Envoy bootstrap and exit
  -h, --help                          help for run

skiff-dp certs is the agent beside a proxyless gRPC application in an mTLS mesh: it keeps
DIR/cert.pem, DIR/key.pem (owner-only) and DIR/ca.pem, the dataplane's mesh identity and the mesh
CA, current over SDS (renewals and CA changes included), for the application's bootstrap:
  "certificate_providers": {"kuma": {"plugin_name": "file_watcher", "config": {"certificate_file":
  "DIR/cert.pem", "private_key_file": "DIR/key.pem", "ca_certificate_file": "DIR/ca.pem"}}}
It takes the same --cp-address, --ca-cert-file, --skip-verify and token flags as run; --once writes
the files once and exits.

While Envoy runs, skiff-dp serves Envoy's access log service on /tmp/kuma-al-{name}-{mesh}.sock
(shortened with a hash when longer than a Unix socket path may be) and forwards the entries of TrafficLog TCP backends, formatted, to the backend's address (kuma-dp's role).
`;

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * Asks each control plane in turn for the bootstrap: one that cannot be reached or answers 5xx
 * (down, or its store is) is skipped; any other answer is final, since another instance on the
 * same store would give the same.
 */
async function bootstrapFromAny(addresses: string[], body: Record<string, unknown>, caCertFile: string | undefined, skipVerify: boolean | undefined) {
  const failures: string[] = [];
  for (const url of addresses) {
    let response: Awaited<ReturnType<typeof callApi>>;
    try {
      response = await callApi({ url, caCertFile, skipVerify: skipVerify || undefined }, 'POST', 'bootstrap', body);
    } catch (err) {
      failures.push(`${url}: ${(err as Error).message}`);
      continue;
    }
    if (response.status === 200) return response;
    if (response.status < 500) throw new Error(`the control plane refused the bootstrap: ${describeFailure(response)}`);
    failures.push(`${url}: ${describeFailure(response)}`);
  }
  throw new Error(`no control plane gave a bootstrap: ${failures.join('; ')}`);
}

const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  'cp-address': { type: 'string' },
  name: { type: 'string' },
  mesh: { type: 'string', default: 'default' },
  'dataplane-token-file': { type: 'string' },
  'dataplane-file': { type: 'string' },
  'ca-cert-file': { type: 'string' },
  'skip-verify': { type: 'boolean', default: false },
} as const;

/** `skiff-dp certs`: the certificate files of a proxyless gRPC application (see HELP). */
async function certs(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, dir: { type: 'string' }, once: { type: 'boolean', default: false } } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const addresses = (values['cp-address'] ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  if (addresses.length === 0 || addresses.some((a) => !/^https?:\/\//.test(a))) throw new UsageError('--cp-address must be an http:// or https:// URL (or several, comma-separated)');
  if (!values.name) throw new UsageError('--name is required');
  if (!values.dir) throw new UsageError('--dir is required: where to write cert.pem, key.pem and ca.pem');
  const token = values['dataplane-token-file'] ? read(values['dataplane-token-file'], 'dataplane token file').trim() : undefined;
  const dataplaneResource = values['dataplane-file'] ? read(values['dataplane-file'], 'dataplane file') : undefined;
  const request = { mesh: values.mesh, name: values.name, proxyType: 'dataplane', dataplaneToken: token, dataplaneResource, version: { kumaDp: { version: VERSION, product: 'skiff-dp' } } };
  // The bootstrap says where the control planes are, which CA they use and carries the token.
  const response = await bootstrapFromAny(addresses, request, values['ca-cert-file'], values['skip-verify']);
  const yaml = Buffer.from((JSON.parse(response.body) as { bootstrap: string }).bootstrap, 'base64').toString('utf8');
  const target = xdsTargetOf(parseYaml(yaml), values.mesh);
  mkdirSync(values.dir, { recursive: true, mode: 0o700 });
  const log = pino({ name: 'skiff-dp' });
  return new Promise<number>((resolve) => {
    const stop = keepCertificateFiles(target, values.dir!, log, () => {
      if (values.once) {
        stop();
        resolve(0);
      }
    });
    const quit = () => {
      stop();
      resolve(0);
    };
    process.once('SIGTERM', quit);
    process.once('SIGINT', quit);
  });
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      'admin-port': { type: 'string' },
      'envoy-binary': { type: 'string', default: 'envoy' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const addresses = (values['cp-address'] ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  const name = values.name;
  if (addresses.length === 0 || addresses.some((a) => !/^https?:\/\//.test(a))) throw new UsageError('--cp-address must be an http:// or https:// URL (or several, comma-separated)');
  if (!name) throw new UsageError('--name is required');
  if (values['ca-cert-file'] && values['skip-verify']) throw new UsageError('use either --ca-cert-file or --skip-verify, not both');
  const adminPort = values['admin-port'] === undefined ? undefined : Number(values['admin-port']);
  if (adminPort !== undefined && (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535)) throw new UsageError('--admin-port must be a port number');
  const token = values['dataplane-token-file'] ? read(values['dataplane-token-file'], 'dataplane token file').trim() : undefined;
  const dataplaneResource = values['dataplane-file'] ? read(values['dataplane-file'], 'dataplane file') : undefined;

  const request = { mesh: values.mesh, name, proxyType: 'dataplane', dataplaneToken: token, dataplaneResource, adminPort, version: { kumaDp: { version: VERSION, product: 'skiff-dp' } } };
  const response = await bootstrapFromAny(addresses, request, values['ca-cert-file'], values['skip-verify']);
  const yaml = Buffer.from((JSON.parse(response.body) as { bootstrap: string }).bootstrap, 'base64').toString('utf8');
  if (values['dry-run']) {
    process.stdout.write(yaml);
    return 0;
  }
  const log = pino({ name: 'skiff-dp' });
  // TrafficLog TCP backends: Envoy sends entries here, we forward formatted lines (kuma-dp's job).
  const forwarder = await startAccessLogForwarder(accessLogSocketPath(name, values.mesh), log);
  log.info({ socket: forwarder.socketPath }, 'access log forwarder listening');
  try {
    return await superviseEnvoy(values['envoy-binary'], yaml, log);
  } finally {
    await forwarder.close();
  }
}

/**
 * Runs Envoy with the bootstrap in a private temporary file, forwards SIGTERM/SIGINT to it, and
 * restarts it with exponential backoff (1 s to 30 s) if it dies on its own. Resolves with 0 after a
 * requested stop; the temporary directory is removed either way.
 */
async function superviseEnvoy(binary: string, bootstrapYaml: string, log: Logger): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-dp-')); // created 0700
  const configPath = join(dir, 'bootstrap.yaml');
  writeFileSync(configPath, bootstrapYaml, { mode: 0o600 });
  let stopping = false;
  let child: ChildProcess | undefined;
  let wake: (() => void) | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    log.info({ signal }, 'stopping Envoy');
    child?.kill(signal);
    wake?.();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    let backoffMs = 1000;
    while (!stopping) {
      const started = Date.now();
      const exit = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
        child = spawn(binary, ['--config-path', configPath, '--drain-time-s', '30', '--disable-hot-restart'], { stdio: 'inherit' });
        child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
        child.once('exit', (code) => resolve({ code }));
      });
      child = undefined;
      if (exit.error?.code === 'ENOENT') throw new Error(`Envoy binary "${binary}" not found: install Envoy or pass --envoy-binary`);
      if (stopping) break;
      if (Date.now() - started > 60_000) backoffMs = 1000; // it ran for a while: start the backoff over
      log.warn({ code: exit.code, error: exit.error?.message, restartInMs: backoffMs }, 'Envoy exited; restarting');
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, backoffMs);
      });
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'certs':
      return certs(rest);
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}" for "skiff-dp"`);
  }
}

runCli('skiff-dp', main);

// The proto pipeline (see proto/README.md): `buf build` compiles the Envoy v3 files the control
// plane uses into one descriptor set, proto/gen/envoy.binpb, which the server, the validators and
// the tests load; the TypeScript types under src/xds/generated/ are generated from that same
// descriptor set. Runs before every TypeScript build (npm run build / test / prepare).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, lstatSync, readlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROTO = join(ROOT, 'proto');
const GEN = join(PROTO, 'gen');
const TYPES = join(ROOT, 'src', 'xds', 'generated');

/** Every file whose messages the control plane encodes or decodes, and the ADS and SDS services. */
const ENVOY_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/service/accesslog/v3/als.proto',
  'envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/health_check/event_sinks/file/v3/file.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/host/omit_host_metadata/v3/omit_host_metadata_config.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/config/trace/v3/datadog.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
];

function fail(message) {
  console.error(`build-protos: ${message}`);
  process.exit(1);
}

/** proto/deps/{envoy-api,xds,googleapis} -> the trees @grpc/grpc-js-xds ships, wherever npm put it. */
function linkUpstreamTrees() {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  mkdirSync(join(PROTO, 'deps'), { recursive: true });
  for (const tree of ['envoy-api', 'xds', 'googleapis']) {
    const link = join(PROTO, 'deps', tree);
    const target = relative(dirname(link), join(deps, tree));
    let current;
    try {
      current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : 'not a link';
    } catch {
      current = undefined;
    }
    if (current === target) continue;
    if (current !== undefined) unlinkSync(link);
    symlinkSync(target, link);
  }
}

function bufBuild(out) {
  const buf = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');
  const paths = ENVOY_FILES.flatMap((file) => ['--path', join('proto', 'deps', 'envoy-api', file)]);
  // bin/buf is a Node shim, or the native binary once the package's optional postinstall ran.
  const run = spawnSync(buf, ['build', 'proto', '--exclude-source-info', '-o', out, ...paths], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) fail(`buf build failed:\n${run.stderr || run.stdout}`);
}

const isObject = (v) => typeof v === 'object' && v !== null;

/**
 * protobufjs's descriptor reader (Root.fromDescriptor) turns map fields into repeated `XxxEntry`
 * messages and keeps no custom option. Both are put back here: a field whose type is a nested
 * map-entry message becomes a map again (same wire format, the object shape Envoy's JSON uses), and
 * protoc-gen-validate's annotations, read by decoding the set again with its own descriptor.proto
 * and validate.proto (which declare the extensions), become the options `(validate.rules)`,
 * `(validate.required)` and `(validate.disabled)` on the fields, oneofs and messages they belong to.
 */
function restoreMaps(namespace) {
  const nested = namespace.nested ?? {};
  for (const child of Object.values(nested)) if (isObject(child)) restoreMaps(child);
  if (!namespace.fields) return;
  const entries = Object.entries(nested).filter(([, t]) => t.options?.map_entry === true && t.fields?.key && t.fields?.value);
  for (const [entryName, entry] of entries) {
    for (const [fieldName, field] of Object.entries(namespace.fields)) {
      if (field.rule !== 'repeated' || !(field.type === entryName || field.type.endsWith(`.${entryName}`))) continue;
      namespace.fields[fieldName] = { keyType: entry.fields.key.type, type: entry.fields.value.type, id: field.id, ...(field.options ? { options: field.options } : {}) };
    }
    delete nested[entryName];
  }
  // fromDescriptor also marks the message holding a map entry as one itself.
  if (namespace.options?.map_entry && Object.keys(namespace.nested ?? {}).length + entries.length > 0) delete namespace.options.map_entry;
  if (namespace.nested && Object.keys(namespace.nested).length === 0) delete namespace.nested;
  if (namespace.options && Object.keys(namespace.options).length === 0) delete namespace.options;
}

function validateOptions(options) {
  const out = {};
  for (const [key, value] of Object.entries(options ?? {})) if (key.startsWith('.validate.')) out[`(validate.${key.slice('.validate.'.length)})`] = value;
  return Object.keys(out).length ? out : undefined;
}

function lookupJson(json, fullName) {
  let node = json;
  for (const part of fullName.split('.').filter(Boolean)) node = node?.nested?.[part];
  return node;
}

function restoreValidateAnnotations(json, annotated) {
  const visit = (message, scope) => {
    const fullName = `${scope}.${message.name}`;
    const target = lookupJson(json, fullName);
    if (!target) fail(`${fullName} is in the descriptor set but not in the converted root`);
    const own = validateOptions(message.options);
    if (own) target.options = { ...target.options, ...own };
    for (const field of message.field ?? []) {
      const rules = validateOptions(field.options);
      if (rules) target.fields[field.name].options = { ...target.fields[field.name].options, ...rules };
    }
    for (const oneof of message.oneof_decl ?? []) {
      const rules = validateOptions(oneof.options);
      if (rules && target.oneofs?.[oneof.name]) target.oneofs[oneof.name].options = { ...target.oneofs[oneof.name].options, ...rules };
    }
    for (const inner of message.nested_type ?? []) if (!inner.options?.map_entry) visit(inner, fullName);
  };
  for (const file of annotated.file) for (const message of file.message_type ?? []) visit(message, file.package ? `.${file.package}` : '');
}

/** The descriptor set in protobufjs's JSON form: what the server, the validators and the tests load. */
function descriptorSetToJson(descriptorSet) {
  const protobuf = require('protobufjs');
  const descriptor = require('protobufjs/ext/descriptor');
  const root = protobuf.Root.fromDescriptor(descriptor.FileDescriptorSet.decode(descriptorSet));
  root.resolveAll();
  const json = root.toJSON();
  restoreMaps(json);
  const setType = root.lookupType('google.protobuf.FileDescriptorSet');
  const annotated = setType.toObject(setType.decode(descriptorSet), { enums: String, longs: String, bytes: String, defaults: false, arrays: false });
  restoreValidateAnnotations(json, annotated);
  return json;
}

/**
 * proto-loader-gen-types reads protobufjs roots, and protobufjs loads its JSON form as a source,
 * so the types describe exactly the messages buf compiled, in the shapes protobufjs and proto-loader
 * produce with the control plane's options (snake_case fields, enums and 64-bit integers as
 * strings, oneof names set).
 */
function generateTypes(jsonFile) {
  rmSync(TYPES, { recursive: true, force: true });
  const genTypes = join(dirname(require.resolve('@grpc/proto-loader/package.json')), 'build', 'bin', 'proto-loader-gen-types.js');
  const args = ['--keepCase', '--longs=String', '--enums=String', '--oneofs', '--arrays', '--grpcLib=@grpc/grpc-js', '--importFileExtension=.js', `--outDir=${TYPES}`, jsonFile];
  const run = spawnSync(process.execPath, [genTypes, ...args], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) fail(`proto-loader-gen-types failed:\n${run.stderr || run.stdout}`);
}

linkUpstreamTrees();
mkdirSync(GEN, { recursive: true });
const binpb = join(GEN, 'envoy.binpb');
bufBuild(binpb);
const jsonFile = join(GEN, 'envoy.json');
writeFileSync(jsonFile, JSON.stringify(descriptorSetToJson(readFileSync(binpb))));
generateTypes(jsonFile);

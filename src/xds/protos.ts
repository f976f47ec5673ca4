import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/**
 * The official Envoy v3 API (plus xds/udpa, googleapis and protoc-gen-validate) as shipped in
 * `@grpc/grpc-js-xds/deps/`. See proto/README.md for why these files and not a buf build.
 */
const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
export const PROTO_INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(DEPS, d));

/** Every message the control plane encodes or decodes, and the ADS service. */
const PROTO_FILES = [
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
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/service/accesslog/v3/als.proto',
];

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // Resolve imports against the include directories, as protoc's -I would.
  root.resolvePath = (_origin, target) => {
    for (const dir of PROTO_INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

const started = process.hrtime.bigint();
/** One protobufjs root for the whole process: field names in Envoy's snake_case. */
export const envoyRoot: protobuf.Root = loadRoot();
/** Options shared by the gRPC service definition and our own decoding, so both see the same shapes. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, arrays: true, oneofs: true };
/** The gRPC definitions, built by proto-loader from the same root (no second parse of the files). */
export const grpcDefinitions: protoLoader.PackageDefinition = protoLoader.fromJSON(envoyRoot.toJSON(), LOADER_OPTIONS);
/** Milliseconds spent loading the protos at start-up (reported by the benchmark and the log). */
export const PROTO_LOAD_MS = Number(process.hrtime.bigint() - started) / 1e6;

const typeCache = new Map<string, protobuf.Type>();

/** The message type named by a type URL (`type.googleapis.com/envoy.config.cluster.v3.Cluster`) or a full name. */
export function messageType(typeUrlOrName: string): protobuf.Type {
  let type = typeCache.get(typeUrlOrName);
  if (!type) {
    const name = typeUrlOrName.slice(typeUrlOrName.lastIndexOf('/') + 1);
    type = envoyRoot.lookupType(name);
    typeCache.set(typeUrlOrName, type);
  }
  return type;
}

/**
 * Encodes a resource written as a plain object in proto3-JSON-like shape (snake_case fields,
 * enum names, nested `Any` as `{"@type": url, ...fields}`) into protobuf bytes. protobufjs drops
 * fields the message does not have; test/xds checks every generator output round-trips whole.
 */
export function encodeResource(typeUrl: string, value: object): Uint8Array {
  const type = messageType(typeUrl);
  return type.encode(type.fromObject(value)).finish();
}

/** Decodes protobuf bytes back to the same readable shape (used by tests and the inspect endpoint). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(typeUrl);
  return type.toObject(type.decode(bytes), { json: true, enums: String, longs: String, bytes: String, defaults: false }) as Record<string, unknown>;
}

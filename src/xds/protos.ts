import { readFileSync } from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { TYPE_URLS } from './resources.js';

/**
 * The official Envoy v3 API (plus xds/udpa, googleapis and protoc-gen-validate), compiled by
 * `buf build` into one descriptor set and converted at build time into protobufjs's JSON form with
 * map fields and protoc-gen-validate's annotations kept (scripts/build-protos.mjs; proto/README.md).
 * Loading that form is one JSON parse: no .proto file is read at run time.
 */
const ENVOY_DESCRIPTORS = new URL('../../../proto/gen/envoy.json', import.meta.url);

function loadRoot(): protobuf.Root {
  let json: protobuf.INamespace;
  try {
    json = JSON.parse(readFileSync(ENVOY_DESCRIPTORS, 'utf8')) as protobuf.INamespace;
  } catch (error) {
    throw new Error(`cannot read the Envoy descriptors at ${ENVOY_DESCRIPTORS.pathname} (run npm run build): ${(error as Error).message}`);
  }
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  return root;
}

/**
 * google.protobuf.Any from its JSON form (`{"@type": url, ...fields}`), memoised per object.
 * protobufjs's own converter looks the type up through the namespace by name and encodes the
 * value as a whole message every time it meets one. Generated resources share sub-objects (a
 * mesh's TLS context is one object in every inbound listener), and nothing changes a generated
 * object once built (the encoder keys on them: cache/snapshot.ts), so an Any met again is the
 * message it gave before, and types are found through `messageType`'s cache.
 */
function memoiseAnys(root: protobuf.Root): void {
  const any = root.lookupType('google.protobuf.Any');
  any.setup(); // installs protobufjs's converter, which a later setup would put back over ours
  const generic = any.fromObject.bind(any) as (object: Record<string, unknown>, depth?: number) => protobuf.Message;
  const seen = new WeakMap<object, protobuf.Message>();
  const convert = (object: Record<string, any>, depth = 0): protobuf.Message => {
    const url = object?.['@type'];
    if (typeof url !== 'string' || url === '' || object instanceof any.ctor) return generic(object, depth);
    let type: protobuf.Type;
    try {
      type = messageType(url);
    } catch {
      return generic(object, depth); // no such type: protobufjs's converter says what it does with it
    }
    // As protobufjs: no leading "." in the URL, and a "/" before the name.
    const typeUrl = url.startsWith('.') ? url.slice(1) : url;
    return any.create({ type_url: typeUrl.includes('/') ? typeUrl : `/${typeUrl}`, value: type.encode((type.fromObject as (o: object, d?: number) => protobuf.Message)(object, depth + 1)).finish() });
  };
  (any as { fromObject: unknown }).fromObject = (object: Record<string, unknown>, depth?: number): protobuf.Message => {
    if (object === null || typeof object !== 'object') return generic(object, depth);
    let message = seen.get(object);
    if (!message) seen.set(object, (message = convert(object, depth)));
    return message;
  };
}

const started = process.hrtime.bigint();
/** One protobufjs root for the whole process: field names in Envoy's snake_case. */
export const envoyRoot: protobuf.Root = loadRoot();
memoiseAnys(envoyRoot);
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
  return type.encode(type.fromObject(typeUrl === TYPE_URLS.secret ? withDecodedBytes(value as Json) : value)).finish();
}

type Json = Record<string, any>;
const decoded = (source: Json | undefined) => (typeof source?.inline_bytes === 'string' ? { ...source, inline_bytes: Buffer.from(source.inline_bytes, 'base64') } : source);

/**
 * protobufjs decodes a `bytes` field written as base64 text in JavaScript: about 80 µs for a
 * certificate, its key and the CA, once for every proxy turning mTLS on. Buffer decodes it
 * natively, and protobufjs takes the bytes as they are. Secrets are the one type with large
 * `bytes` fields (their inline PEM).
 */
function withDecodedBytes(secret: Json): Json {
  const { tls_certificate: tls, validation_context: validation } = secret;
  return {
    ...secret,
    ...(tls && { tls_certificate: { ...tls, certificate_chain: decoded(tls.certificate_chain), private_key: decoded(tls.private_key) } }),
    ...(validation && { validation_context: { ...validation, trusted_ca: decoded(validation.trusted_ca) } }),
  };
}

/** Decodes protobuf bytes back to the same readable shape (used by tests and the inspect endpoint). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(typeUrl);
  return type.toObject(type.decode(bytes), { json: true, enums: String, longs: String, bytes: String, defaults: false }) as Record<string, unknown>;
}

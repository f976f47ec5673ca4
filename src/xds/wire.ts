import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * The ADS responses' own serialisers. A resource's `google.protobuf.Any` is encoded once, as the
 * length-delimited field it is in both `DiscoveryResponse.resources` and `Resource.resource`
 * (field 2 in each), and every response that carries it copies those bytes: protobufjs's generic
 * path would build a message object per resource and per response and re-encode it, for every
 * stream. The output is byte for byte what protobufjs writes (fields in number order, strings
 * that are set written even when empty); anything else falls back to the generic serialiser.
 */

export interface EncodedAny {
  type_url: string;
  value: Buffer;
}

/** What the streams send (server/sotw-stream.ts, server/delta-stream.ts), checked field by field. */
interface DiscoveryResponse {
  version_info: unknown;
  resources: unknown;
  type_url: unknown;
  nonce: unknown;
}
interface DeltaDiscoveryResponse {
  system_version_info: unknown;
  resources: unknown;
  type_url: unknown;
  removed_resources: unknown;
  nonce: unknown;
}
interface DeltaResource {
  name: unknown;
  version: unknown;
  resource: unknown;
}

/** The field bytes of every Any made by `encodedAny`, which `value` is a view into. */
const anyFields = new WeakMap<object, Buffer>();

const TAG_1 = 0x0a; // field 1, length-delimited
const TAG_2 = 0x12;
const TAG_3 = 0x1a;
const TAG_4 = 0x22;
const TAG_5 = 0x2a;
const TAG_6 = 0x32;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** Size of a length-delimited field (tag, length, payload) whose payload is `length` bytes. */
const fieldSize = (length: number) => 1 + varintSize(length) + length;

function writeString(buf: Buffer, offset: number, tag: number, value: string, length: number): number {
  buf[offset++] = tag;
  offset = writeVarint(buf, offset, length);
  return offset + buf.write(value, offset, length, 'utf8');
}

function writeBytes(buf: Buffer, offset: number, tag: number, value: Uint8Array): number {
  buf[offset++] = tag;
  offset = writeVarint(buf, offset, value.length);
  buf.set(value, offset);
  return offset + value.length;
}

/**
 * An Any for `value`, kept with its encoding as field 2. The memory is its own (not a slice of a
 * shared pool slab, which one long-lived slice would keep alive whole).
 */
export function encodedAny(typeUrl: string, value: Uint8Array): EncodedAny {
  const typeUrlLength = Buffer.byteLength(typeUrl);
  const bodyLength = fieldSize(typeUrlLength) + fieldSize(value.length);
  const field = Buffer.allocUnsafeSlow(fieldSize(bodyLength));
  let offset = writeVarint(field, 1, bodyLength);
  field[0] = TAG_2;
  offset = writeString(field, offset, TAG_1, typeUrl, typeUrlLength);
  writeBytes(field, offset, TAG_2, value);
  const any = { type_url: typeUrl, value: field.subarray(field.length - value.length) };
  anyFields.set(any, field);
  return any;
}

/** The field bytes of an Any not made by `encodedAny`. */
function anyField(any: EncodedAny): Buffer {
  const typeUrlLength = Buffer.byteLength(any.type_url);
  const bodyLength = fieldSize(typeUrlLength) + fieldSize(any.value.length);
  const field = Buffer.allocUnsafe(fieldSize(bodyLength));
  field[0] = TAG_2;
  const offset = writeString(field, writeVarint(field, 1, bodyLength), TAG_1, any.type_url, typeUrlLength);
  writeBytes(field, offset, TAG_2, any.value);
  return field;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isAny = (v: unknown): v is EncodedAny => {
  const a = v as EncodedAny | null;
  return typeof a === 'object' && a !== null && isString(a.type_url) && a.value instanceof Uint8Array && Object.keys(a).length === 2;
};
function hasOnly(o: object, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false;
  return true;
}

const SOTW_KEYS = new Set(['version_info', 'resources', 'type_url', 'nonce']);
const DELTA_KEYS = new Set(['system_version_info', 'resources', 'type_url', 'removed_resources', 'nonce']);
const DELTA_RESOURCE_KEYS = new Set(['name', 'version', 'resource']);

/** `DiscoveryResponse` as sent by SotwStream; undefined when it holds anything else. */
export function serializeDiscoveryResponse(r: DiscoveryResponse): Buffer | undefined {
  if (!hasOnly(r, SOTW_KEYS) || !isString(r.version_info) || !isString(r.type_url) || !isString(r.nonce) || !Array.isArray(r.resources)) return undefined;
  const resources = r.resources as unknown[];
  const fields: Buffer[] = new Array(resources.length);
  let size = 0;
  for (let i = 0; i < resources.length; i++) {
    const any = resources[i];
    const field = anyFields.get(any as object) ?? (isAny(any) ? anyField(any) : undefined);
    if (!field) return undefined;
    fields[i] = field;
    size += field.length;
  }
  const versionLength = Buffer.byteLength(r.version_info);
  const typeUrlLength = Buffer.byteLength(r.type_url);
  const nonceLength = Buffer.byteLength(r.nonce);
  size += fieldSize(versionLength) + fieldSize(typeUrlLength) + fieldSize(nonceLength);
  const buf = Buffer.allocUnsafe(size);
  let offset = writeString(buf, 0, TAG_1, r.version_info, versionLength);
  for (const f of fields) {
    buf.set(f, offset);
    offset += f.length;
  }
  offset = writeString(buf, offset, TAG_4, r.type_url, typeUrlLength);
  writeString(buf, offset, TAG_5, r.nonce, nonceLength);
  return buf;
}

/** `DeltaDiscoveryResponse` as sent by DeltaStream; undefined when it holds anything else. */
export function serializeDeltaDiscoveryResponse(r: DeltaDiscoveryResponse): Buffer | undefined {
  if (!hasOnly(r, DELTA_KEYS) || !isString(r.system_version_info) || !isString(r.type_url) || !isString(r.nonce)) return undefined;
  if (!Array.isArray(r.resources) || !Array.isArray(r.removed_resources) || !r.removed_resources.every(isString)) return undefined;
  const isEntry = (e: unknown): e is { name: string; version: string; resource: EncodedAny } => {
    const entry = e as DeltaResource | null;
    return typeof entry === 'object' && entry !== null && hasOnly(entry, DELTA_RESOURCE_KEYS) && isString(entry.name) && isString(entry.version) && isAny(entry.resource);
  };
  if (!r.resources.every(isEntry)) return undefined;
  const versionLength = Buffer.byteLength(r.system_version_info);
  const typeUrlLength = Buffer.byteLength(r.type_url);
  const nonceLength = Buffer.byteLength(r.nonce);
  const entries = r.resources.map((e) => {
    const any = anyFields.get(e.resource) ?? anyField(e.resource);
    const nameLength = Buffer.byteLength(e.name);
    const versionLength = Buffer.byteLength(e.version);
    const bodyLength = fieldSize(versionLength) + any.length + fieldSize(nameLength);
    return { e, any, nameLength, versionLength, bodyLength };
  });
  const removedLengths = r.removed_resources.map((name) => Buffer.byteLength(name));
  let size = fieldSize(versionLength) + fieldSize(typeUrlLength) + fieldSize(nonceLength);
  for (const entry of entries) size += fieldSize(entry.bodyLength);
  for (const length of removedLengths) size += fieldSize(length);
  const buf = Buffer.allocUnsafe(size);
  let offset = writeString(buf, 0, TAG_1, r.system_version_info, versionLength);
  for (const { e, any, nameLength, versionLength, bodyLength } of entries) {
    buf[offset++] = TAG_2;
    offset = writeVarint(buf, offset, bodyLength);
    offset = writeString(buf, offset, TAG_1, e.version, versionLength);
    buf.set(any, offset);
    offset += any.length;
    offset = writeString(buf, offset, TAG_3, e.name, nameLength);
  }
  offset = writeString(buf, offset, TAG_4, r.type_url, typeUrlLength);
  offset = writeString(buf, offset, TAG_5, r.nonce, nonceLength);
  r.removed_resources.forEach((name, i) => {
    offset = writeString(buf, offset, TAG_6, name, removedLengths[i]!);
  });
  return buf;
}

/**
 * The service definition with the response serialisers of its streaming ADS methods replaced
 * (each falls back to the definition's own for a message it does not handle).
 */
export function withSplicingSerializers(definition: ServiceDefinition, methods: { sotw: readonly string[]; delta: readonly string[] }): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = { ...definition };
  const replace = (name: string, serialize: (r: never) => Buffer | undefined) => {
    const method = definition[name];
    if (!method) throw new Error(`the service has no method ${name}`);
    const generic = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (r: unknown) => serialize(r as never) ?? generic(r) };
  };
  for (const name of methods.sotw) replace(name, serializeDiscoveryResponse);
  for (const name of methods.delta) replace(name, serializeDeltaDiscoveryResponse);
  return out as ServiceDefinition;
}

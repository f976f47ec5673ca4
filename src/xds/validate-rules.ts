import type protobuf from 'protobufjs';
import { envoyRoot } from './protos.js';

/**
 * A generic checker of protoc-gen-validate rules: it reads the `(validate.rules)` and
 * `(validate.required)` annotations of Envoy's own .proto files from the loaded descriptors and
 * applies them to a decoded message, recursing into sub-messages and `Any` payloads. No rule is
 * copied by hand: what Envoy's protos say is what is checked. Returns one line per violation.
 * Envoy runs the same rules when it loads a resource and NACKs what breaks them, so admission uses
 * this to refuse a raw resource (ProxyTemplate) before it reaches any proxy, and the tests use it
 * on everything the generators produce.
 *
 * The rules come from the descriptor set buf compiled; list rules may still arrive as a bare value,
 * so every one goes through `listOf`.
 */

type Rules = Record<string, unknown>;
type Msg = protobuf.Message<Record<string, unknown>> & Record<string, unknown>;

const has = (msg: object, key: string) => Object.prototype.hasOwnProperty.call(msg, key);

/** The build keeps the annotations as options named as in the .proto files (scripts/build-protos.mjs). */
const rulesOf = (field: protobuf.Field): Rules | undefined => field.options?.['(validate.rules)'] as Rules | undefined;

const listOf = (value: unknown): unknown[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value && typeof value === 'object' && 'toNumber' in value) return (value as { toNumber(): number }).toNumber();
  return Number(value);
}

function durationMs(value: unknown): number | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as { seconds?: unknown; nanos?: unknown };
  return toNumber(v.seconds ?? 0) * 1000 + toNumber(v.nanos ?? 0) / 1e6;
}

// protoc-gen-validate's header rules: strict (the default) per RFC 7230, loose (`strict: false`)
// only refusing NUL, CR and LF.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;

function checkNumber(rules: Rules, value: number, path: string, out: string[]): void {
  const n = (k: string) => (rules[k] === undefined ? undefined : toNumber(rules[k]));
  if (n('const') !== undefined && value !== n('const')) out.push(`${path}: must equal ${n('const')}`);
  if (n('lt') !== undefined && !(value < n('lt')!)) out.push(`${path}: must be < ${n('lt')}`);
  if (n('lte') !== undefined && !(value <= n('lte')!)) out.push(`${path}: must be <= ${n('lte')}`);
  if (n('gt') !== undefined && !(value > n('gt')!)) out.push(`${path}: must be > ${n('gt')}`);
  if (n('gte') !== undefined && !(value >= n('gte')!)) out.push(`${path}: must be >= ${n('gte')}`);
  const allowed = listOf(rules.in)?.map(toNumber);
  if (allowed && !allowed.includes(value)) out.push(`${path}: must be one of ${allowed.join(', ')}`);
  const refused = listOf(rules.not_in)?.map(toNumber);
  if (refused?.includes(value)) out.push(`${path}: must not be ${value}`);
}

function checkString(rules: Rules, value: string, path: string, out: string[]): void {
  if (rules.ignore_empty && value === '') return;
  const len = [...value].length;
  if (rules.min_len !== undefined && len < toNumber(rules.min_len)) out.push(`${path}: length must be >= ${rules.min_len}`);
  if (rules.max_len !== undefined && len > toNumber(rules.max_len)) out.push(`${path}: length must be <= ${rules.max_len}`);
  if (rules.min_bytes !== undefined && Buffer.byteLength(value) < toNumber(rules.min_bytes)) out.push(`${path}: bytes must be >= ${rules.min_bytes}`);
  if (rules.max_bytes !== undefined && Buffer.byteLength(value) > toNumber(rules.max_bytes)) out.push(`${path}: bytes must be <= ${rules.max_bytes}`);
  if (typeof rules.prefix === 'string' && !value.startsWith(rules.prefix)) out.push(`${path}: must start with ${rules.prefix}`);
  if (typeof rules.suffix === 'string' && !value.endsWith(rules.suffix)) out.push(`${path}: must end with ${rules.suffix}`);
  if (typeof rules.contains === 'string' && !value.includes(rules.contains)) out.push(`${path}: must contain ${rules.contains}`);
  if (typeof rules.pattern === 'string' && !new RegExp(rules.pattern, 'u').test(value)) out.push(`${path}: must match ${rules.pattern}`);
  if (typeof rules.const === 'string' && value !== rules.const) out.push(`${path}: must equal ${rules.const}`);
  const allowed = listOf(rules.in);
  if (allowed && !allowed.includes(value)) out.push(`${path}: must be one of ${allowed.join(', ')}`);
  if (listOf(rules.not_in)?.includes(value)) out.push(`${path}: must not be ${value}`);
  const strict = rules.strict !== false;
  if (rules.well_known_regex === 'HTTP_HEADER_VALUE' && !(strict ? HEADER_VALUE_STRICT : HEADER_LOOSE).test(value)) out.push(`${path}: not a valid HTTP header value`);
  if (rules.well_known_regex === 'HTTP_HEADER_NAME' && value !== '' && !(strict ? HEADER_NAME_STRICT : HEADER_LOOSE).test(value)) out.push(`${path}: not a valid HTTP header name`);
}

function checkBytes(rules: Rules, value: Uint8Array, path: string, out: string[]): void {
  if (rules.ignore_empty && value.length === 0) return;
  const bytes = Buffer.from(value);
  const asBytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v as Uint8Array));
  if (rules.len !== undefined && bytes.length !== toNumber(rules.len)) out.push(`${path}: length must be ${rules.len} bytes`);
  if (rules.min_len !== undefined && bytes.length < toNumber(rules.min_len)) out.push(`${path}: length must be >= ${rules.min_len} bytes`);
  if (rules.max_len !== undefined && bytes.length > toNumber(rules.max_len)) out.push(`${path}: length must be <= ${rules.max_len} bytes`);
  if (rules.const !== undefined && !bytes.equals(asBytes(rules.const))) out.push(`${path}: must equal the constant`);
  if (rules.prefix !== undefined && bytes.indexOf(asBytes(rules.prefix)) !== 0) out.push(`${path}: has the wrong prefix`);
  if (rules.contains !== undefined && bytes.indexOf(asBytes(rules.contains)) < 0) out.push(`${path}: lacks required bytes`);
}

/** Applies one field's rules to its value (the proto3 default when the field is unset). */
function checkValue(field: protobuf.Field, rules: Rules, value: unknown, present: boolean, path: string, out: string[]): void {
  for (const [kind, raw] of Object.entries(rules)) {
    const r = raw as Rules;
    switch (kind) {
      case 'message':
        if (r.required && !present) out.push(`${path}: is required`);
        break;
      case 'string':
        checkString(r, present ? String(value) : '', path, out);
        break;
      case 'uint32':
      case 'int32':
      case 'uint64':
      case 'int64':
      case 'sint32':
      case 'sint64':
      case 'fixed32':
      case 'fixed64':
      case 'double':
      case 'float': {
        if (r.ignore_empty && !present) break;
        // Wrapper types (UInt32Value, ...) carry the number in `value`.
        const number = field.resolvedType ? (present ? toNumber((value as { value?: unknown }).value ?? 0) : undefined) : toNumber(present ? value : 0);
        if (number !== undefined) checkNumber(r, number, path, out);
        break;
      }
      case 'enum': {
        const enumType = field.resolvedType as protobuf.Enum | null;
        const v = present ? toNumber(value) : 0;
        if (r.defined_only && enumType && !Object.values(enumType.values).includes(v)) out.push(`${path}: ${v} is not a defined ${enumType.name}`);
        const allowed = listOf(r.in)?.map(toNumber);
        if (allowed && !allowed.includes(v)) out.push(`${path}: must be one of ${allowed.join(', ')}`);
        if (listOf(r.not_in)?.map(toNumber).includes(v)) out.push(`${path}: must not be ${v}`);
        break;
      }
      case 'duration': {
        if (r.required && !present) out.push(`${path}: is required`);
        const ms = present ? durationMs(value) : undefined;
        if (ms === undefined) break;
        const limit = (k: string) => durationMs(r[k]);
        if (r.gt !== undefined && !(ms > limit('gt')!)) out.push(`${path}: must be > ${limit('gt')} ms`);
        if (r.gte !== undefined && !(ms >= limit('gte')!)) out.push(`${path}: must be >= ${limit('gte')} ms`);
        if (r.lt !== undefined && !(ms < limit('lt')!)) out.push(`${path}: must be < ${limit('lt')} ms`);
        if (r.lte !== undefined && !(ms <= limit('lte')!)) out.push(`${path}: must be <= ${limit('lte')} ms`);
        break;
      }
      case 'any':
        if (r.required && !present) out.push(`${path}: is required`);
        if (present && listOf(r.in) && !listOf(r.in)!.includes((value as { type_url?: string }).type_url)) out.push(`${path}: type not allowed`);
        break;
      case 'repeated': {
        const items = (present ? (value as unknown[]) : []) as unknown[];
        if (r.ignore_empty && items.length === 0) break;
        if (r.min_items !== undefined && items.length < toNumber(r.min_items)) out.push(`${path}: must have at least ${r.min_items} items`);
        if (r.max_items !== undefined && items.length > toNumber(r.max_items)) out.push(`${path}: must have at most ${r.max_items} items`);
        if (r.unique && new Set(items.map((i) => JSON.stringify(i))).size !== items.length) out.push(`${path}: items must be unique`);
        if (r.items) items.forEach((item, i) => checkValue(field, r.items as Rules, item, true, `${path}[${i}]`, out));
        break;
      }
      case 'map': {
        const entries = present ? Object.entries(value as object) : [];
        if (r.min_pairs !== undefined && entries.length < toNumber(r.min_pairs)) out.push(`${path}: must have at least ${r.min_pairs} entries`);
        if (r.max_pairs !== undefined && entries.length > toNumber(r.max_pairs)) out.push(`${path}: must have at most ${r.max_pairs} entries`);
        for (const [key, item] of entries) {
          if (r.keys) checkValue(field, r.keys as Rules, key, true, `${path}[${key}](key)`, out);
          if (r.values) checkValue(field, r.values as Rules, item, true, `${path}[${key}]`, out);
        }
        break;
      }
      case 'bool':
        if (r.const !== undefined && (present ? Boolean(value) : false) !== r.const) out.push(`${path}: must be ${String(r.const)}`);
        break;
      case 'bytes':
        checkBytes(r, present ? (value as Uint8Array) : new Uint8Array(), path, out);
        break;
      default:
        break; // timestamp: no Envoy resource a proxy receives uses it
    }
  }
}

function validateMessage(type: protobuf.Type, msg: Msg, path: string, out: string[]): void {
  for (const oneof of type.oneofsArray) {
    const required = oneof.options?.['(validate.required)'] === true;
    if (required && !oneof.fieldsArray.some((f) => has(msg, f.name))) out.push(`${path}: one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required`);
  }
  for (const field of type.fieldsArray) {
    const present = has(msg, field.name) && !(field.repeated && (msg[field.name] as unknown[]).length === 0);
    const value = msg[field.name];
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    // A member of a oneof is checked only when it is the one set, as protoc-gen-validate does.
    if (field.partOf && !present) continue;
    const rules = rulesOf(field);
    if (rules) checkValue(field, rules, value, present, fieldPath, out);
    if (!present || !(field.resolvedType && 'fieldsArray' in field.resolvedType)) continue;
    const sub = field.resolvedType as protobuf.Type;
    const values = field.map ? Object.values(value as object) : field.repeated ? (value as unknown[]) : [value];
    values.forEach((v, i) => {
      const p = field.repeated || field.map ? `${fieldPath}[${i}]` : fieldPath;
      if (sub.fullName === '.google.protobuf.Any') validateAny(v as { type_url: string; value: Uint8Array }, p, out);
      else validateMessage(sub, v as Msg, p, out);
    });
  }
}

function validateAny(any: { type_url: string; value: Uint8Array }, path: string, out: string[]): void {
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  const type = envoyRoot.lookupType(name);
  validateMessage(type, type.decode(any.value) as Msg, `${path}<${name}>`, out);
}

/** Every PGV violation of `bytes` decoded as `typeUrl`. */
export function pgvViolations(typeUrl: string, bytes: Uint8Array): string[] {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const type = envoyRoot.lookupType(name);
  const out: string[] = [];
  validateMessage(type, type.decode(bytes) as Msg, '', out);
  return out;
}

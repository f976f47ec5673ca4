import type protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';
import { parseDuration, protoDuration } from '../core/duration.js';
import { envoyRoot, messageType } from './protos.js';

/**
 * Raw Envoy resources as users write them (ProxyTemplate `conf.resources`): proto3 JSON/YAML with
 * camelCase or snake_case names, durations as "5s", wrappers as plain values, `Any` as
 * `{"@type": …}`. This converts them, guided by the message descriptors, into the snake_case shape
 * our encoder takes; any field the message does not have is an error naming its path.
 */

/** Envoy v2 type URLs whose v3 message has the same shape for what users put in templates. */
const V2_TO_V3: Record<string, string> = {
  'envoy.api.v2.Cluster': 'envoy.config.cluster.v3.Cluster',
  'envoy.api.v2.Listener': 'envoy.config.listener.v3.Listener',
  'envoy.api.v2.RouteConfiguration': 'envoy.config.route.v3.RouteConfiguration',
  'envoy.api.v2.ClusterLoadAssignment': 'envoy.config.endpoint.v3.ClusterLoadAssignment',
};

const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => `.google.protobuf.${n}`));
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export type RawResult = { ok: true; typeUrl: string; name: string; value: Record<string, unknown> } | { ok: false; error: string };

function convertMessage(type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path || '(root)'}: expected an object for ${type.name}`);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (key === '@type') continue;
    const field = type.fields[key] ?? type.fields[snake(key)];
    if (!field) throw new Error(`${path ? `${path}.` : ''}${key}: unknown field of ${type.name}`);
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    const convert = (v: unknown, p: string) => convertField(field, v, p);
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, convert(v, `${fieldPath}[${k}]`)]));
    else if (field.repeated) out[field.name] = (Array.isArray(raw) ? raw : [raw]).map((v, i) => convert(v, `${fieldPath}[${i}]`));
    else out[field.name] = convert(raw, fieldPath);
  }
  return out;
}

function convertField(field: protobuf.Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (!resolved || !('fields' in resolved)) return value; // scalar or enum: protobufjs takes JSON forms as they are
  const type = resolved as protobuf.Type;
  if (type.fullName === '.google.protobuf.Duration' && typeof value === 'string') {
    const ms = parseDuration(value);
    if (ms === undefined) throw new Error(`${path}: not a duration: "${value}"`);
    return protoDuration(ms);
  }
  if (WRAPPERS.has(type.fullName) && (typeof value !== 'object' || value === null)) return { value };
  if (type.fullName === '.google.protobuf.Any') {
    const typeUrl = String((value as Record<string, unknown>)['@type'] ?? '');
    const inner = lookup(typeUrl);
    if (!inner) throw new Error(`${path}: unknown @type "${typeUrl}"`);
    return { '@type': `type.googleapis.com/${inner.fullName.slice(1)}`, ...convertMessage(inner, value, path) };
  }
  if (type.fullName === '.google.protobuf.Struct') return value;
  return convertMessage(type, value, path);
}

function lookup(typeUrl: string): protobuf.Type | undefined {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  try {
    return envoyRoot.lookupType(V2_TO_V3[name] ?? name);
  } catch {
    return undefined;
  }
}

/** A proto3-JSON object (string durations, camelCase or snake_case names) of `typeUrl`'s message, in our encoder's shape. */
export function fromProto3Json(typeUrl: string, value: Record<string, unknown>): Record<string, unknown> {
  const type = lookup(typeUrl);
  if (!type) throw new Error(`unknown type ${typeUrl}`);
  return convertMessage(type, value, '');
}

/**
 * Parses a raw resource (YAML or JSON text) and converts it; v2 Cluster/Listener/RouteConfiguration/
 * ClusterLoadAssignment become their v3 messages. The result names the resource as Envoy would.
 */
export function parseRawResource(text: string): RawResult {
  try {
    const doc = parseYaml(text) as Record<string, unknown>;
    if (typeof doc !== 'object' || doc === null) return { ok: false, error: 'not an object' };
    const declared = String(doc['@type'] ?? '');
    const type = lookup(declared);
    if (!type) return { ok: false, error: `unsupported @type "${declared}": use an Envoy v3 Cluster, Listener, RouteConfiguration or ClusterLoadAssignment (or their v2 names)` };
    const typeUrl = `type.googleapis.com/${type.fullName.slice(1)}`;
    if (!['Cluster', 'Listener', 'RouteConfiguration', 'ClusterLoadAssignment'].includes(type.name)) {
      return { ok: false, error: `@type "${declared}" is not a resource a proxy template can add` };
    }
    const value = convertMessage(type, doc, '');
    messageType(typeUrl).fromObject(value); // throws on values of the wrong type
    const name = String(value.name ?? value.cluster_name ?? '');
    if (!name) return { ok: false, error: 'the resource has no name' };
    return { ok: true, typeUrl, name, value };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0]! };
  }
}

import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { DiscoveryResponse } from './sotw-stream.js';

/**
 * DiscoveryResponses written straight to their wire bytes. proto-loader's serializer runs
 * protobufjs `fromObject` over the whole response (an Any conversion per resource) and then
 * encodes it, for every stream. A resource's Any entry is the same bytes in every response that
 * carries it (one shared object per encoded resource), so it is encoded once; a response is its
 * version, its entries, its type URL and its nonce, in field order as protobufjs writes them
 * (test/xds/response-encoder.test.ts compares the bytes with proto-loader's).
 */
const entries = new WeakMap<object, Buffer>();

/** Field 2 (`resources`) of a DiscoveryResponse holding `any`. */
function entryOf(any: { type_url: string; value: Buffer }): Buffer {
  let entry = entries.get(any);
  if (!entry) {
    entry = Buffer.from(protobuf.Writer.create().uint32(0x12).fork().uint32(0x0a).string(any.type_url).uint32(0x12).bytes(any.value).ldelim().finish());
    entries.set(any, entry);
  }
  return entry;
}

function stringField(tag: number, value: string): Buffer {
  return Buffer.from(protobuf.Writer.create().uint32(tag).string(value).finish());
}

export function encodeDiscoveryResponse(response: DiscoveryResponse): Buffer {
  const parts: Buffer[] = [stringField(0x0a, response.version_info)];
  for (const any of response.resources) parts.push(entryOf(any));
  parts.push(stringField(0x22, response.type_url), stringField(0x2a, response.nonce));
  return Buffer.concat(parts);
}

/** Only what the streams send: anything else (canary, control_plane) goes to proto-loader's serializer. */
const KNOWN = new Set(['version_info', 'resources', 'type_url', 'nonce']);

/** `service` with `methods`' responses encoded by encodeDiscoveryResponse. */
export function withDirectResponses(service: grpc.ServiceDefinition, methods: readonly string[]): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...service };
  for (const method of methods) {
    const definition = service[method];
    if (!definition) throw new Error(`${method} is not a method of the service`);
    const fallback = definition.responseSerialize;
    out[method] = {
      ...definition,
      responseSerialize: (response) => {
        const r = response as DiscoveryResponse;
        return Object.keys(r).every((k) => KNOWN.has(k)) ? encodeDiscoveryResponse(r) : fallback(r);
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

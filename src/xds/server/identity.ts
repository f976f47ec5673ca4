import type { Metadata } from '@grpc/grpc-js';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node.js';
import type { Struct__Output } from '../generated/google/protobuf/Struct.js';

/** `google.protobuf.Struct` and `envoy.config.core.v3.Node` as decoded (types generated from the descriptor set). */
export type Struct = Struct__Output;
/** The parts of the node the control plane reads. */
export type NodeInfo = Pick<Node__Output, 'id' | 'cluster' | 'metadata' | 'user_agent_name' | 'user_agent_version'>;

/** Who is on the other end of a stream, from its first request. */
export interface ProxyIdentity {
  /** `{mesh}.{name}` */
  nodeId: string;
  mesh: string;
  name: string;
  /** A proxyless gRPC client rather than an Envoy. */
  proxyless: boolean;
  /** Envoy's admin port, as its bootstrap states it (`dataplane.admin.port`), when known. */
  adminPort?: number;
}

export function structString(struct: Struct | undefined, key: string): string | undefined {
  const value = struct?.fields?.[key]?.string_value;
  return typeof value === 'string' ? value : undefined;
}

export type IdentityResult = { ok: true; identity: ProxyIdentity } | { ok: false; message: string };

/**
 * Reads the node's identity. `node.id` is `{mesh}.{name}` of a Dataplane, split at the first dot as
 * Kuma does. Proxyless clients say so with `dataplane.proxyType: grpc` in their metadata, or are
 * recognised by a gRPC user agent (grpc-js-xds, grpc-go, grpc-java).
 */
export function identify(node: NodeInfo | undefined): IdentityResult {
  const id = node?.id ?? '';
  const dot = id.indexOf('.');
  if (id === '' || dot <= 0 || dot === id.length - 1) {
    return { ok: false, message: `node.id "${id}" is not of the form "{mesh}.{dataplane name}"` };
  }
  const proxyType = structString(node?.metadata, 'dataplane.proxyType');
  const proxyless = proxyType === 'grpc' || (proxyType === undefined && /grpc/i.test(node?.user_agent_name ?? ''));
  const admin = Number(structString(node?.metadata, 'dataplane.admin.port'));
  const adminPort = Number.isInteger(admin) && admin > 0 && admin <= 65535 ? admin : undefined;
  return { ok: true, identity: { nodeId: id, mesh: id.slice(0, dot), name: id.slice(dot + 1), proxyless, ...(adminPort ? { adminPort } : {}) } };
}

/** Kuma's bootstrap sends the raw JWT; others send `Bearer <jwt>`. Both are accepted. */
function stripBearer(value: string): string {
  return value.replace(/^Bearer\s+/i, '').trim();
}

/**
 * The credential a proxy presents: gRPC metadata `authorization` (Envoy), else
 * `node.metadata["dataplane.token"]` (proxyless clients cannot set call metadata).
 */
export function credentialOf(metadata: Metadata, node: NodeInfo | undefined): string | undefined {
  const header = metadata.get('authorization')[0];
  if (typeof header === 'string' && header.trim() !== '') return stripBearer(header);
  const fromNode = structString(node?.metadata, 'dataplane.token');
  return fromNode && fromNode.trim() !== '' ? stripBearer(fromNode) : undefined;
}

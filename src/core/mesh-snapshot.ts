import type { StoredResource } from './model.js';
import { normalizeDataplane, type NormalizedDataplane } from './resources/dataplane.js';

/** An inbound of some dataplane, as a destination other proxies send traffic to. */
export interface Endpoint {
  /** Dataplane that serves it. */
  dataplane: string;
  address: string;
  port: number;
  tags: Record<string, string>;
}

export interface DataplaneEntry {
  name: string;
  /** Store version: normalised shapes are reused while it is unchanged. */
  version: number;
  dataplane: NormalizedDataplane;
}

export type Protocol = 'tcp' | 'http' | 'http2' | 'grpc';
const PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'http', 'http2', 'grpc']);

/** The protocol an inbound declares with `kuma.io/protocol` (or `protocol`); tcp when absent or unknown. */
export function protocolOf(tags: Record<string, string>): Protocol {
  const value = tags['kuma.io/protocol'] ?? tags.protocol;
  return value && PROTOCOLS.has(value) ? (value as Protocol) : 'tcp';
}

/**
 * Everything of one mesh that proxy configuration is computed from, built once per change of the
 * mesh and shared by every proxy in it. Immutable once built.
 */
export interface MeshSnapshot {
  mesh: string;
  meshSpec: Record<string, unknown>;
  dataplanes: ReadonlyMap<string, DataplaneEntry>;
  /** Endpoints of every service, ordered by (dataplane, port) so output is deterministic. */
  endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  /** The protocol of each service: the one all its inbounds agree on, tcp if they disagree. */
  protocols: ReadonlyMap<string, Protocol>;
}

/**
 * Builds a mesh snapshot. `previous` lets unchanged dataplanes (same store version) keep their
 * normalised form instead of being parsed again.
 */
export function buildMeshSnapshot(mesh: StoredResource, dataplanes: readonly StoredResource[], previous?: MeshSnapshot): MeshSnapshot {
  const entries = new Map<string, DataplaneEntry>();
  const endpoints = new Map<string, Endpoint[]>();
  const protocols = new Map<string, Protocol>();
  for (const resource of [...dataplanes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const reused = previous?.dataplanes.get(resource.name);
    const entry = reused && reused.version === resource.version ? reused : { name: resource.name, version: resource.version, dataplane: normalizeDataplane(resource.spec) };
    entries.set(resource.name, entry);
    for (const inbound of entry.dataplane.inbound) {
      let list = endpoints.get(inbound.service);
      if (!list) endpoints.set(inbound.service, (list = []));
      list.push({ dataplane: resource.name, address: inbound.address, port: inbound.port, tags: inbound.tags });
      const protocol = protocolOf(inbound.tags);
      const known = protocols.get(inbound.service);
      protocols.set(inbound.service, known === undefined || known === protocol ? protocol : 'tcp');
    }
  }
  return { mesh: mesh.name, meshSpec: mesh.spec, dataplanes: entries, endpoints, protocols };
}

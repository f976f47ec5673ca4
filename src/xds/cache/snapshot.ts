import { hash as digest } from 'node:crypto';
import { encodeResource } from '../protos.js';
import { TYPE_URLS, type TypeUrl } from '../resources.js';
import { encodedAny, type EncodedAny } from '../wire.js';
import type { GeneratedResource } from '../generators/types.js';

/** A resource ready to send: encoded once, versioned by the hash of its bytes. */
export interface EncodedResource {
  name: string;
  /** Content hash: equal bytes, equal version, on every control plane. */
  version: string;
  /** The `google.protobuf.Any` as sent on the wire (its encoding is kept: server/wire.ts). */
  any: EncodedAny;
  /**
   * What the snapshot's consistency check needs of the object it was encoded from: whether a
   * cluster takes EDS, the routes a listener names. The object itself is not kept (decode `any`
   * to read it): at 10,000 proxies the objects were a large part of the heap.
   */
  eds?: boolean;
  routeNames?: readonly string[];
}

/** Everything one proxy may be sent, per type URL and resource name. Immutable once built. */
export interface Snapshot {
  resources: ReadonlyMap<TypeUrl, ReadonlyMap<string, EncodedResource>>;
  /**
   * `performance.now()` of the change this snapshot answers (a store change, or the proxy's
   * connection), for the `xds_delivery` figure. Shared snapshots (proxyless) leave it out.
   */
  changedAt?: number;
}

/** Bounds the content cache (about 2 to 4 entries a proxy in a 10,000-proxy mesh). */
const MAX_CONTENT_ENTRIES = 200_000;

// The one-shot digest: a Hash object per call cost as much again for these small inputs.
const hash = (data: Uint8Array | string): string => digest('sha256', data, 'base64url').slice(0, 22);

/**
 * Encodes generated resources, remembering the result per object: resources shared by many
 * proxies (a service's cluster and endpoints) are the same object in every proxy's output, so
 * they are serialised and hashed once per mesh snapshot, not once per proxy.
 */
export class ResourceEncoder {
  private readonly cache = new WeakMap<object, EncodedResource>();
  /**
   * By content too: a proxy regenerated after a change gets new objects for its listeners, routes
   * and inbound clusters, mostly equal to what it had (and outbound listeners repeat across
   * proxies). Serialising an object to JSON costs a fraction of protobuf encoding.
   */
  private readonly byContent = new Map<string, EncodedResource>();

  encode(generated: GeneratedResource): EncodedResource {
    let encoded = this.cache.get(generated.resource);
    if (encoded) return encoded;
    // Secrets skip it: their generator returns the same objects for the same identity, so a digest
    // of their JSON (4 KB of PEM for a certificate) would only ever miss.
    const bySecret = generated.typeUrl === TYPE_URLS.secret;
    // The digest of the JSON, not the JSON: the keys would hold every distinct resource again.
    const key = bySecret ? undefined : digest('sha256', `${generated.typeUrl}\u0000${generated.name}\u0000${JSON.stringify(generated.resource)}`, 'base64');
    encoded = key === undefined ? undefined : this.byContent.get(key);
    if (!encoded) {
      const any = encodedAny(generated.typeUrl, encodeResource(generated.typeUrl, generated.resource));
      encoded = { name: generated.name, version: hash(any.value), any };
      if (generated.typeUrl === TYPE_URLS.cluster) encoded.eds = (generated.resource as { type?: string }).type === 'EDS';
      if (generated.typeUrl === TYPE_URLS.listener) encoded.routeNames = routeNamesOf(generated.resource);
      if (key !== undefined) {
        if (this.byContent.size >= MAX_CONTENT_ENTRIES) this.byContent.clear();
        this.byContent.set(key, encoded);
      }
    }
    this.cache.set(generated.resource, encoded);
    return encoded;
  }

  snapshot(generated: readonly GeneratedResource[]): Snapshot {
    const resources = new Map<TypeUrl, Map<string, EncodedResource>>();
    for (const g of generated) {
      let byName = resources.get(g.typeUrl);
      if (!byName) resources.set(g.typeUrl, (byName = new Map()));
      byName.set(g.name, this.encode(g));
    }
    return { resources };
  }
}

/** The version of a set of resources as a whole: the hash of their sorted names and versions. */
export function versionOf(resources: readonly EncodedResource[]): string {
  // Names are unique in a response and U+0000 sorts first, so ordering by name orders the parts.
  // Responses usually list them sorted already (Envoy sends sorted names): then nothing is copied
  // or sorted, and the text is built in one pass.
  let sorted = true;
  for (let i = 1; i < resources.length && sorted; i++) sorted = resources[i - 1]!.name < resources[i]!.name;
  const ordered = sorted ? resources : [...resources].sort((a, b) => (a.name < b.name ? -1 : 1));
  let text = '';
  for (let i = 0; i < ordered.length; i++) text += `${i === 0 ? '' : '\u0001'}${ordered[i]!.name}\u0000${ordered[i]!.version}`;
  return hash(text);
}

/**
 * Names a snapshot references but does not contain: EDS clusters without endpoints, listeners
 * whose RDS route is missing. Such a snapshot would leave Envoy waiting; callers log it.
 */
export function inconsistencies(snapshot: Snapshot): string[] {
  const problems: string[] = [];
  const has = (type: TypeUrl, name: string) => snapshot.resources.get(type)?.has(name) ?? false;
  for (const cluster of snapshot.resources.get(TYPE_URLS.cluster)?.values() ?? []) {
    if (cluster.eds && !has(TYPE_URLS.endpoint, cluster.name)) problems.push(`cluster ${cluster.name} has no ClusterLoadAssignment`);
  }
  for (const listener of snapshot.resources.get(TYPE_URLS.listener)?.values() ?? []) {
    for (const route of listener.routeNames ?? []) {
      if (!has(TYPE_URLS.route, route)) problems.push(`listener ${listener.name} references missing route ${route}`);
    }
  }
  return problems;
}

function routeNamesOf(listener: Record<string, unknown>): string[] {
  const names: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      const rds = obj.rds as { route_config_name?: string } | undefined;
      if (rds?.route_config_name) names.push(rds.route_config_name);
      Object.values(obj).forEach(visit);
    }
  };
  visit(listener);
  return names;
}

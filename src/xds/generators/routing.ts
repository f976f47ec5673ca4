import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import { SERVICE_TAGS, serviceOf, type Tags } from '../../core/tags.js';

/** One weighted destination of an outbound: a cluster of a service, possibly a tag subset of it. */
export interface RouteTarget {
  cluster: string;
  service: string;
  /** Tags beyond the service an endpoint must carry (empty: every endpoint of the service). */
  subset: Tags;
  weight: number;
}

/** `backend`, or `backend[version=v2]` for a subset: readable, and the same for every proxy. */
export function subsetClusterName(service: string, subset: Tags): string {
  const keys = Object.keys(subset).sort();
  return keys.length === 0 ? service : `${service}[${keys.map((k) => `${k}=${subset[k]}`).join(',')}]`;
}

/**
 * Where traffic from a proxy (its inbound tag sets) to `service` goes: the TrafficRoute that
 * selects it (most specific wins, see core/policy-matching), split into weighted subset clusters;
 * without a matching route, all of the service. Entries of weight 0 are dropped.
 */
export function routeTargets(mesh: MeshSnapshot, sourceTags: readonly Tags[], service: string): RouteTarget[] {
  const route = selectConnectionPolicy(mesh.trafficRoutes, sourceTags, { 'kuma.io/service': service });
  if (!route) return [{ cluster: service, service, subset: {}, weight: 100 }];
  const byCluster = new Map<string, RouteTarget>();
  for (const entry of route.split) {
    if (!(entry.weight > 0)) continue;
    const target = serviceOf(entry.destination) ?? service;
    const subset = Object.fromEntries(Object.entries(entry.destination).filter(([k]) => !(SERVICE_TAGS as readonly string[]).includes(k)));
    const cluster = subsetClusterName(target, subset);
    const known = byCluster.get(cluster);
    if (known) known.weight += entry.weight;
    else byCluster.set(cluster, { cluster, service: target, subset, weight: entry.weight });
  }
  return [...byCluster.values()];
}

/** The targets as a key part: '' for all of `service` (no TrafficRoute, the usual case), else their JSON. */
export function targetsKey(targets: readonly RouteTarget[], service: string): string {
  const only = targets.length === 1 ? targets[0]! : undefined;
  if (only && only.cluster === service && only.service === service && only.weight === 100 && Object.keys(only.subset).length === 0) return '';
  return JSON.stringify(targets);
}

/** Which route each service gets for these source tags: proxies with equal selections can share resources. */
export function routeSelectionKey(mesh: MeshSnapshot, sourceTags: readonly Tags[]): string {
  if (mesh.trafficRoutes.length === 0) return '';
  return [...mesh.endpoints.keys()].map((s) => selectConnectionPolicy(mesh.trafficRoutes, sourceTags, { 'kuma.io/service': s })?.name ?? '').join('|');
}

import type { MeshSnapshot } from '../core/mesh-snapshot.js';
import type { GeneratedResource, ProxyContext } from '../xds/generators/types.js';
import { applyMeshTimeouts, meshTimeoutSelectionKey } from './mesh-timeout/xds.js';

/**
 * The targetRef policies (Kuma 2.x), one folder each: `api.ts` (schema, validation; core level),
 * `rules.ts` (selection and merge; core level), `xds.ts` (what it changes in generated resources).
 * The generators produce the base configuration; each policy then applies itself, in order.
 */
const APPLY = [applyMeshTimeouts];

export function applyPolicies(resources: GeneratedResource[], proxy: ProxyContext, mesh: MeshSnapshot): GeneratedResource[] {
  return APPLY.reduce((current, apply) => apply(current, proxy, mesh), resources);
}

/** Proxyless dataplanes share snapshots only when the same policies select them. */
export function policySelectionKey(mesh: MeshSnapshot, proxy: Pick<ProxyContext, 'dataplane'>): string {
  return meshTimeoutSelectionKey(mesh, proxy.dataplane.name, proxy.dataplane.dataplane);
}

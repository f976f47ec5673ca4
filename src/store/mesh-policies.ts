import type { MeshPolicies } from '../core/mesh-snapshot.js';
import { TARGET_REF_POLICY_TYPES, type ResourceTypeName, type StoredResource, type TargetRefPolicyType } from '../core/model.js';
import type { ResourceStore } from './store.js';

/** The original policy types, and where a mesh snapshot takes each. */
export const LEGACY_POLICY_FIELDS = { TrafficPermission: 'permissions', TrafficRoute: 'routes', HealthCheck: 'healthChecks', TrafficLog: 'trafficLogs', ProxyTemplate: 'proxyTemplates' } as const;
type LegacyType = keyof typeof LEGACY_POLICY_FIELDS;

export const POLICY_TYPES: ReadonlySet<ResourceTypeName> = new Set<ResourceTypeName>([...(Object.keys(LEGACY_POLICY_FIELDS) as LegacyType[]), ...TARGET_REF_POLICY_TYPES]);

/**
 * Every policy of a mesh a snapshot is built with: the original types and the targetRef family.
 * With `previous`, only the `stale` types are read again (a policy change names its type), so a
 * change to one TrafficRoute costs one list, not nineteen.
 */
export async function listMeshPolicies(store: ResourceStore, mesh: string, previous?: MeshPolicies, stale: ReadonlySet<ResourceTypeName> | 'all' = 'all'): Promise<MeshPolicies> {
  const reread = (type: ResourceTypeName) => !previous || stale === 'all' || stale.has(type);
  const items = async (type: ResourceTypeName) => (await store.list(type, { mesh })).items;
  const out: MeshPolicies = { ...previous, targetRef: { ...previous?.targetRef } };
  for (const [type, field] of Object.entries(LEGACY_POLICY_FIELDS) as Array<[LegacyType, (typeof LEGACY_POLICY_FIELDS)[LegacyType]]>) if (reread(type)) out[field] = await items(type);
  const targetRef: Partial<Record<TargetRefPolicyType, readonly StoredResource[]>> = out.targetRef!;
  for (const type of TARGET_REF_POLICY_TYPES) {
    if (!reread(type)) continue;
    const list = await items(type);
    if (list.length > 0) targetRef[type] = list;
    else delete targetRef[type];
  }
  return out;
}

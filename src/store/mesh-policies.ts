import type { MeshPolicies } from '../core/mesh-snapshot.js';
import { TARGET_REF_POLICY_TYPES, type StoredResource, type TargetRefPolicyType } from '../core/model.js';
import type { ResourceStore } from './store.js';

/** Every policy of a mesh a snapshot is built with: the original types and the targetRef family. */
export async function listMeshPolicies(store: ResourceStore, mesh: string): Promise<MeshPolicies> {
  const items = async (type: Parameters<ResourceStore['list']>[0]) => (await store.list(type, { mesh })).items;
  const targetRef: Partial<Record<TargetRefPolicyType, readonly StoredResource[]>> = {};
  for (const type of TARGET_REF_POLICY_TYPES) {
    const list = await items(type);
    if (list.length > 0) targetRef[type] = list;
  }
  return {
    permissions: await items('TrafficPermission'),
    routes: await items('TrafficRoute'),
    healthChecks: await items('HealthCheck'),
    trafficLogs: await items('TrafficLog'),
    proxyTemplates: await items('ProxyTemplate'),
    targetRef,
  };
}

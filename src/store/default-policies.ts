import { isAlreadyExists } from '../core/errors.js';
import type { StoredResource } from '../core/model.js';
import { defaultMeshPolicies } from '../policies/defaults.js';
import type { ResourceStore } from './store.js';

/** Creates a new mesh's default policies (Kuma's), skipping any that exist; returns the names created. */
export async function createDefaultMeshPolicies(store: ResourceStore, mesh: Pick<StoredResource, 'name' | 'spec'>): Promise<string[]> {
  const created: string[] = [];
  for (const policy of defaultMeshPolicies(mesh.name, mesh.spec)) {
    try {
      await store.create(policy);
      created.push(policy.name);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  return created;
}

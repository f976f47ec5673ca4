import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import type { GeneratedResource } from './types.js';

/**
 * Generated resources by everything they are built from, per mesh snapshot. Proxies with equal
 * inputs get the same object (as clusters and endpoints of a service are shared), so the
 * policies' shared edits and the encoder do their work once, not per proxy. Policies edit
 * copies (`Edits`), never these objects.
 */
const perSnapshot = new WeakMap<MeshSnapshot, Map<string, GeneratedResource>>();
export function sharedResource(mesh: MeshSnapshot, key: string, build: () => GeneratedResource): GeneratedResource {
  let byKey = perSnapshot.get(mesh);
  if (!byKey) perSnapshot.set(mesh, (byKey = new Map()));
  let resource = byKey.get(key);
  if (!resource) byKey.set(key, (resource = build()));
  return resource;
}

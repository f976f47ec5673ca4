import type { MeshDelta, MeshSnapshot } from '../core/mesh-snapshot.js';
import type { ResourceEncoder, Snapshot } from './cache/snapshot.js';
import { loadAssignmentFor, serviceOfCluster } from './generators/service.js';
import { TYPE_URLS } from './resources.js';

/**
 * The services of a delta whose endpoints alone changed (same protocol, present before and after):
 * the only change a proxy can take by swapping ClusterLoadAssignments instead of being regenerated.
 */
export function endpointOnlyServices(previous: MeshSnapshot, next: MeshSnapshot, delta: MeshDelta): Set<string> {
  const out = new Set<string>();
  for (const service of delta.services) {
    const before = previous.serviceSignatures.get(service);
    const after = next.serviceSignatures.get(service);
    if (before !== undefined && after !== undefined && before !== after && previous.protocols.get(service) === next.protocols.get(service)) out.add(service);
  }
  return out;
}

/**
 * A proxy's snapshot with the ClusterLoadAssignments of `services` rebuilt from `mesh`, every other
 * type's map shared with `current` (so streams skip them). Equal to regenerating the proxy when
 * only those services' endpoints changed and nothing that reshapes endpoints per proxy is in play
 * (ProxyTemplate, MeshProxyPatch, MeshLoadBalancingStrategy's locality priorities); undefined when
 * a cluster cannot be rebuilt this way (the caller regenerates).
 */
export function patchLoadAssignments(current: Snapshot, mesh: MeshSnapshot, services: ReadonlySet<string>, encoder: ResourceEncoder): Snapshot | undefined {
  if (mesh.proxyTemplates.length > 0 || mesh.targetRefPolicies.has('MeshProxyPatch') || mesh.targetRefPolicies.has('MeshLoadBalancingStrategy')) return undefined;
  const endpoints = current.resources.get(TYPE_URLS.endpoint);
  if (!endpoints) return current;
  let patched: Map<string, ReturnType<ResourceEncoder['encode']>> | undefined;
  for (const name of endpoints.keys()) {
    if (!services.has(serviceOfCluster(name))) continue;
    const generated = loadAssignmentFor(mesh, name);
    if (!generated) return undefined;
    patched ??= new Map(endpoints);
    patched.set(name, encoder.encode(generated));
  }
  if (!patched) return current;
  const resources = new Map(current.resources);
  resources.set(TYPE_URLS.endpoint, patched);
  return { resources };
}

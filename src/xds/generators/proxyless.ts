import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { TYPE_URLS } from '../resources.js';
import { httpConnectionManager, weightedRoute } from './envoy.js';
import { routeSelectionKey, routeTargets } from './routing.js';
import { serviceResources } from './service.js';
import type { GeneratedResource, Generator } from './types.js';

/**
 * For proxyless gRPC clients (`xds:///backend`): per service of the mesh, a Listener named after it
 * (and `service:port` for each port it serves on) whose `api_listener` is an HTTP connection
 * manager, its RouteConfiguration, the EDS cluster and the endpoints. The client subscribes by name,
 * so only what it asks for is sent; everything here is shared by every proxyless client of the mesh.
 */
const perSnapshot = new WeakMap<MeshSnapshot, Map<string, GeneratedResource[]>>();

export const proxylessGenerator: Generator = {
  name: 'proxyless',
  generate(proxy, mesh) {
    if (!proxy.proxyless) return [];
    // Clients whose tags select the same TrafficRoutes get the very same resources.
    const sourceTags = proxy.dataplane.dataplane.inbound.map((i) => i.tags);
    const key = routeSelectionKey(mesh, sourceTags);
    let byKey = perSnapshot.get(mesh);
    if (!byKey) perSnapshot.set(mesh, (byKey = new Map()));
    let resources = byKey.get(key);
    if (!resources) byKey.set(key, (resources = buildAll(mesh, sourceTags)));
    return resources;
  },
};

function buildAll(mesh: MeshSnapshot, sourceTags: ReadonlyArray<Record<string, string>>): GeneratedResource[] {
  const out: GeneratedResource[] = [];
  for (const [service, endpoints] of mesh.endpoints) {
    const apiListener = { api_listener: { api_listener: httpConnectionManager(service, service) } };
    const names = new Set([service, ...endpoints.map((e) => `${service}:${e.port}`)]);
    for (const name of names) out.push({ typeUrl: TYPE_URLS.listener, name, resource: { name, ...apiListener } });
    const targets = routeTargets(mesh, sourceTags, service);
    out.push({ typeUrl: TYPE_URLS.route, name: service, resource: weightedRoute(service, service, targets, '') });
    for (const target of targets) out.push(...serviceResources(mesh, target.service, target.subset, undefined, 'proxyless'));
  }
  return out;
}

import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { TYPE_URLS } from '../resources.js';
import { httpConnectionManager, singleClusterRoute } from './envoy.js';
import { serviceResources } from './service.js';
import type { GeneratedResource, Generator } from './types.js';

/**
 * For proxyless gRPC clients (`xds:///backend`): per service of the mesh, a Listener named after it
 * (and `service:port` for each port it serves on) whose `api_listener` is an HTTP connection
 * manager, its RouteConfiguration, the EDS cluster and the endpoints. The client subscribes by name,
 * so only what it asks for is sent; everything here is shared by every proxyless client of the mesh.
 */
const perSnapshot = new WeakMap<MeshSnapshot, GeneratedResource[]>();

export const proxylessGenerator: Generator = {
  name: 'proxyless',
  generate(proxy, mesh) {
    if (!proxy.proxyless) return [];
    let resources = perSnapshot.get(mesh);
    if (!resources) perSnapshot.set(mesh, (resources = buildAll(mesh)));
    return resources;
  },
};

function buildAll(mesh: MeshSnapshot): GeneratedResource[] {
  const out: GeneratedResource[] = [];
  for (const [service, endpoints] of mesh.endpoints) {
    const apiListener = { api_listener: { api_listener: httpConnectionManager(service, service) } };
    const names = new Set([service, ...endpoints.map((e) => `${service}:${e.port}`)]);
    for (const name of names) out.push({ typeUrl: TYPE_URLS.listener, name, resource: { name, ...apiListener } });
    out.push({ typeUrl: TYPE_URLS.route, name: service, resource: singleClusterRoute(service, service, service, '') });
    out.push(...serviceResources(mesh, service));
  }
  return out;
}

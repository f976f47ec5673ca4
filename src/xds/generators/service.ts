import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { TYPE_URLS } from '../resources.js';
import { ADS_CONFIG_SOURCE, http2UpstreamOptions, isHttp2, socketAddress, upstreamMtls } from './envoy.js';
import type { GeneratedResource } from './types.js';

/**
 * The EDS cluster and ClusterLoadAssignment of one destination service. They depend only on the
 * mesh, so they are built once per mesh snapshot and the same objects are handed to every proxy
 * (the encoder then serialises them once).
 */
const perSnapshot = new WeakMap<MeshSnapshot, Map<string, GeneratedResource[]>>();

export function serviceResources(mesh: MeshSnapshot, service: string): GeneratedResource[] {
  let byService = perSnapshot.get(mesh);
  if (!byService) perSnapshot.set(mesh, (byService = new Map()));
  let resources = byService.get(service);
  if (!resources) {
    resources = [buildCluster(mesh, service), buildLoadAssignment(mesh, service)];
    byService.set(service, resources);
  }
  return resources;
}

function buildCluster(mesh: MeshSnapshot, service: string): GeneratedResource {
  const protocol = mesh.protocols.get(service) ?? 'tcp';
  return {
    typeUrl: TYPE_URLS.cluster,
    name: service,
    resource: {
      name: service,
      type: 'EDS',
      connect_timeout: { seconds: 5 },
      lb_policy: 'ROUND_ROBIN',
      eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
      ...(isHttp2(protocol) ? { typed_extension_protocol_options: http2UpstreamOptions() } : {}),
      // With mesh mTLS on: present our identity, and only talk to `spiffe://{mesh}/{service}`.
      ...(mesh.mtls ? { transport_socket: upstreamMtls(mesh.mesh, service) } : {}),
    },
  };
}

function buildLoadAssignment(mesh: MeshSnapshot, service: string): GeneratedResource {
  const endpoints = mesh.endpoints.get(service) ?? [];
  return {
    typeUrl: TYPE_URLS.endpoint,
    name: service,
    resource: {
      cluster_name: service,
      endpoints:
        endpoints.length === 0
          ? []
          : [
              {
                // One locality with an explicit weight: gRPC clients ignore localities without one.
                locality: {},
                load_balancing_weight: { value: 1 },
                lb_endpoints: endpoints.map((e) => ({ endpoint: { address: socketAddress(e.address, e.port) }, load_balancing_weight: { value: 1 } })),
              },
            ],
    },
  };
}

import type { HealthCheckRule, MeshSnapshot } from '../../core/mesh-snapshot.js';
import { TYPE_URLS } from '../resources.js';
import { ADS_CONFIG_SOURCE, http2UpstreamOptions, isHttp2, proxylessUpstreamMtls, socketAddress, upstreamMtls } from './envoy.js';
import type { GeneratedResource } from './types.js';
import { matchesSelector, type Tags } from '../../core/tags.js';
import { subsetClusterName } from './routing.js';
import { protoDuration } from '../../core/duration.js';

/**
 * The EDS cluster and ClusterLoadAssignment of one destination service. They depend only on the
 * mesh, so they are built once per mesh snapshot and the same objects are handed to every proxy
 * (the encoder then serialises them once).
 */
const perSnapshot = new WeakMap<MeshSnapshot, Map<string, GeneratedResource[]>>();
const loadAssignments = new WeakMap<MeshSnapshot, Map<string, GeneratedResource>>();
/** The service and tag subset each generated EDS cluster name stands for (names are deterministic). */
const clusterSubsets = new Map<string, { service: string; subset: Tags }>();

function loadAssignment(mesh: MeshSnapshot, service: string, name: string, subset: Tags): GeneratedResource {
  let byName = loadAssignments.get(mesh);
  if (!byName) loadAssignments.set(mesh, (byName = new Map()));
  let cla = byName.get(name);
  if (!cla) {
    byName.set(name, (cla = buildLoadAssignment(mesh, service, name, subset)));
    if (!clusterSubsets.has(name)) clusterSubsets.set(name, { service, subset });
  }
  return cla;
}

/**
 * The ClusterLoadAssignment of an EDS cluster this module generated before, built from `mesh` (the
 * same object for every proxy): what a proxy needs when only the endpoints of a service changed.
 */
export function loadAssignmentFor(mesh: MeshSnapshot, clusterName: string): GeneratedResource | undefined {
  const known = clusterSubsets.get(clusterName);
  return known && loadAssignment(mesh, known.service, clusterName, known.subset);
}

/** The service of an EDS cluster name (`backend` of `backend[version=v2]`). */
export function serviceOfCluster(clusterName: string): string {
  const bracket = clusterName.indexOf('[');
  return bracket < 0 ? clusterName : clusterName.slice(0, bracket);
}

/** Who the cluster is for: an Envoy sidecar (SDS secrets) or a proxyless gRPC client (certificate provider instances). */
export type ClusterFlavour = 'sidecar' | 'proxyless';

export function serviceResources(mesh: MeshSnapshot, service: string, subset: Tags = {}, healthCheck?: HealthCheckRule, flavour: ClusterFlavour = 'sidecar'): GeneratedResource[] {
  let byCluster = perSnapshot.get(mesh);
  if (!byCluster) perSnapshot.set(mesh, (byCluster = new Map()));
  const name = subsetClusterName(service, subset);
  // Proxies that select the same HealthCheck (or none) share the objects.
  const key = `${name}\u0000${healthCheck?.name ?? ''}\u0000${flavour}`;
  let resources = byCluster.get(key);
  if (!resources) {
    resources = [buildCluster(mesh, service, name, healthCheck, flavour), loadAssignment(mesh, service, name, subset)];
    byCluster.set(key, resources);
  }
  return resources;
}


/** HealthCheck: active TCP checks and, for passive checks, outlier detection on consecutive errors. */
function healthCheckFields(hc: HealthCheckRule | undefined) {
  if (!hc) return {};
  return {
    ...(hc.active
      ? {
          health_checks: [
            {
              interval: protoDuration(hc.active.intervalMs),
              timeout: protoDuration(hc.active.timeoutMs),
              unhealthy_threshold: { value: hc.active.unhealthyThreshold },
              healthy_threshold: { value: hc.active.healthyThreshold },
              tcp_health_check: {},
            },
          ],
        }
      : {}),
    ...(hc.passive
      ? { outlier_detection: { consecutive_5xx: { value: hc.passive.unhealthyThreshold }, interval: protoDuration(hc.passive.penaltyIntervalMs), base_ejection_time: protoDuration(hc.passive.penaltyIntervalMs) } }
      : {}),
  };
}

function buildCluster(mesh: MeshSnapshot, service: string, name: string, healthCheck: HealthCheckRule | undefined, flavour: ClusterFlavour): GeneratedResource {
  const protocol = mesh.protocols.get(service) ?? 'tcp';
  return {
    typeUrl: TYPE_URLS.cluster,
    name,
    resource: {
      name,
      type: 'EDS',
      connect_timeout: { seconds: 5 },
      lb_policy: 'ROUND_ROBIN',
      eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
      ...(isHttp2(protocol) ? { typed_extension_protocol_options: http2UpstreamOptions() } : {}),
      ...healthCheckFields(healthCheck),
      // With mesh mTLS on: present our identity, and only talk to `spiffe://{mesh}/{service}`.
      ...(mesh.mtls ? { transport_socket: flavour === 'proxyless' ? proxylessUpstreamMtls(mesh.mesh, service) : upstreamMtls(mesh.mesh, service) } : {}),
    },
  };
}

/** Endpoints of the service, only those carrying the subset's tags when it has any. */
function buildLoadAssignment(mesh: MeshSnapshot, service: string, name: string, subset: Tags): GeneratedResource {
  const endpoints = (mesh.endpoints.get(service) ?? []).filter((e) => matchesSelector(subset, e.tags));
  return {
    typeUrl: TYPE_URLS.endpoint,
    name,
    resource: {
      cluster_name: name,
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

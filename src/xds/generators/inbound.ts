import { protocolOf } from '../../core/mesh-snapshot.js';
import { TYPE_URLS } from '../resources.js';
import { downstreamMtls, hcmFilter, http2UpstreamOptions, isHttp, isHttp2, singleClusterRoute, socketAddress, statPrefix, tcpProxyFilter, type HcmOptions } from './envoy.js';
import { rbacFilter } from './permissions.js';
import { sharedResource } from './shared.js';
import type { GeneratedResource, Generator } from './types.js';

export const localClusterName = (servicePort: number) => `localhost:${servicePort}`;
export const inboundListenerName = (address: string, port: number) => `inbound:${address}:${port}`;

/**
 * Per inbound: a listener on the dataplane's address and port forwarding to a static cluster of
 * the local service (TCP proxy, or an HTTP connection manager with its route when the inbound's
 * protocol tag is http, http2 or grpc). With mesh mTLS on, the listener requires a client
 * certificate of the mesh and applies TrafficPermission as an RBAC filter.
 */
export const inboundGenerator: Generator = {
  name: 'inbound',
  generate(proxy, mesh) {
    if (proxy.proxyless) return [];
    const out: GeneratedResource[] = [];
    const seenClusters = new Set<string>();
    for (const inbound of proxy.dataplane.dataplane.inbound) {
      const protocol = protocolOf(inbound.tags);
      const cluster = localClusterName(inbound.servicePort);
      const listenerName = inboundListenerName(inbound.address, inbound.port);
      if (!seenClusters.has(cluster)) {
        seenClusters.add(cluster);
        // The same object for every proxy with this local address and port (of this snapshot).
        const http2 = isHttp2(protocol);
        out.push(
          sharedResource(mesh, ['local cluster', inbound.serviceAddress, inbound.servicePort, http2], () => ({
            typeUrl: TYPE_URLS.cluster,
            name: cluster,
            resource: {
              name: cluster,
              type: 'STATIC',
              connect_timeout: { seconds: 10 },
              load_assignment: {
                cluster_name: cluster,
                endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(inbound.serviceAddress, inbound.servicePort) } }] }],
              },
              ...(http2 ? { typed_extension_protocol_options: http2UpstreamOptions() } : {}),
            },
          })),
        );
      }
      const filter = isHttp(protocol)
        ? inboundHcmFilter(statPrefix(cluster), listenerName, { grpcStats: protocol === 'grpc', forwardClientCert: mesh.mtls !== undefined })
        : inboundTcpProxyFilter(statPrefix(cluster), cluster);
      // With mTLS on: client certificates required, and TrafficPermission decides who gets through.
      const chain = mesh.mtls
        ? { filters: [rbacFilter(mesh, inbound.tags, statPrefix(listenerName)), filter], transport_socket: downstreamMtls(mesh.mesh) }
        : { filters: [filter] };
      out.push({
        typeUrl: TYPE_URLS.listener,
        name: listenerName,
        resource: {
          name: listenerName,
          address: socketAddress(inbound.address, inbound.port),
          traffic_direction: 'INBOUND',
          filter_chains: [chain],
        },
      });
      if (isHttp(protocol)) {
        out.push({ typeUrl: TYPE_URLS.route, name: listenerName, resource: inboundRoute(singleClusterRoute(listenerName, inbound.service, cluster, '/')) });
      }
    }
    return out;
  },
};

/**
 * Kuma's inbound timeouts (its default timeout policy, `from` side): no route timeout, so Envoy's
 * 15 s default does not cut long requests and gRPC streams; idle streams close after 1 h and idle
 * connections after 2 h.
 */
const INBOUND_TIMEOUTS = { streamIdleTimeout: { seconds: 3600 }, idleTimeout: { seconds: 7200 } } as const;

function inboundHcmFilter(prefix: string, routeConfigName: string, options: HcmOptions) {
  const hcm = hcmFilter(prefix, routeConfigName, [], options);
  return {
    ...hcm,
    typed_config: { ...hcm.typed_config, stream_idle_timeout: INBOUND_TIMEOUTS.streamIdleTimeout, common_http_protocol_options: { idle_timeout: INBOUND_TIMEOUTS.idleTimeout } },
  };
}

function inboundTcpProxyFilter(prefix: string, cluster: string) {
  const filter = tcpProxyFilter(prefix, cluster);
  return { ...filter, typed_config: { ...filter.typed_config, idle_timeout: INBOUND_TIMEOUTS.idleTimeout } };
}

function inboundRoute(route: ReturnType<typeof singleClusterRoute>) {
  return {
    ...route,
    virtual_hosts: route.virtual_hosts.map((vh) => ({ ...vh, routes: vh.routes.map((r) => ({ ...r, route: { ...r.route, timeout: { seconds: 0 } } })) })),
  };
}

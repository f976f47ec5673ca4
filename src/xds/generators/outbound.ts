import { TYPE_URLS } from '../resources.js';
import { hcmFilter, isHttp, singleClusterRoute, socketAddress, statPrefix, tcpProxyFilter } from './envoy.js';
import { serviceResources } from './service.js';
import type { GeneratedResource, Generator } from './types.js';

export const outboundListenerName = (address: string, port: number) => `outbound:${address}:${port}`;
export const outboundRouteName = (service: string) => `outbound:${service}`;

/**
 * Per outbound: a listener on 127.0.0.1 (or the given address) forwarding to the destination
 * service's cluster, plus that cluster and its endpoints (shared by every proxy of the mesh).
 */
export const outboundGenerator: Generator = {
  name: 'outbound',
  generate(proxy, mesh) {
    if (proxy.proxyless) return [];
    const out: GeneratedResource[] = [];
    const services = new Set<string>();
    for (const outbound of proxy.dataplane.dataplane.outbound) {
      const protocol = mesh.protocols.get(outbound.service) ?? 'tcp';
      const name = outboundListenerName(outbound.address, outbound.port);
      const filter = isHttp(protocol)
        ? hcmFilter(statPrefix(outbound.service), outboundRouteName(outbound.service))
        : tcpProxyFilter(statPrefix(outbound.service), outbound.service);
      out.push({
        typeUrl: TYPE_URLS.listener,
        name,
        resource: { name, address: socketAddress(outbound.address, outbound.port), traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [filter] }] },
      });
      if (services.has(outbound.service)) continue;
      services.add(outbound.service);
      if (isHttp(protocol)) {
        const route = outboundRouteName(outbound.service);
        out.push({ typeUrl: TYPE_URLS.route, name: route, resource: singleClusterRoute(route, outbound.service, outbound.service, '/') });
      }
      out.push(...serviceResources(mesh, outbound.service));
    }
    return out;
  },
};

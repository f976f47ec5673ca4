import { TYPE_URLS } from '../resources.js';
import { hcmFilter, isHttp, socketAddress, statPrefix, tcpProxyFilter, weightedRoute } from './envoy.js';
import { routeTargets, targetsKey } from './routing.js';
import { accessLogFor, accessLogSinkCluster } from './traffic-log.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import { serviceResources } from './service.js';
import { sharedResource } from './shared.js';
import type { GeneratedResource, Generator } from './types.js';
import type { MeshSnapshot } from '../../core/mesh-snapshot.js';

export const outboundListenerName = (address: string, port: number) => `outbound:${address}:${port}`;
export const outboundRouteName = (service: string) => `outbound:${service}`;

/**
 * Per outbound: a listener on 127.0.0.1 (or the given address) forwarding to the destination
 * service, split by the TrafficRoute that selects this proxy if any (weighted subset clusters),
 * plus those clusters and their endpoints (shared by every proxy of the mesh).
 */
export const outboundGenerator: Generator = {
  name: 'outbound',
  generate(proxy, mesh) {
    if (proxy.proxyless) return [];
    const out: GeneratedResource[] = [];
    const services = new Set<string>();
    let needsLogSink = false;
    const sourceTags = proxy.dataplane.dataplane.inbound.map((i) => i.tags);
    for (const outbound of proxy.dataplane.dataplane.outbound) {
      const protocol = mesh.protocols.get(outbound.service) ?? 'tcp';
      const name = outboundListenerName(outbound.address, outbound.port);
      const targets = routeTargets(mesh, sourceTags, outbound.service);
      const accessLog = accessLogFor(mesh, sourceTags, proxy.dataplane.dataplane.inbound[0]?.service ?? '', proxy.dataplane.dataplane.address, outbound.service, isHttp(protocol));
      needsLogSink ||= accessLog.needsSink;
      const logKey = accessLog.entries.length === 0 ? '' : JSON.stringify(accessLog.entries);
      out.push(
        sharedResource(mesh, ['listener', outbound.address, outbound.port, outbound.service, protocol, isHttp(protocol) ? '' : targetsKey(targets, outbound.service), logKey], () => {
          const filter = isHttp(protocol)
            ? hcmFilter(statPrefix(outbound.service), outboundRouteName(outbound.service), accessLog.entries, { normalizePath: true, grpcStats: protocol === 'grpc' })
            : tcpProxyFilter(statPrefix(outbound.service), targets, accessLog.entries);
          return {
            typeUrl: TYPE_URLS.listener,
            name,
            resource: { name, address: socketAddress(outbound.address, outbound.port), traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [filter] }] },
          };
        }),
      );
      if (services.has(outbound.service)) continue;
      services.add(outbound.service);
      if (isHttp(protocol)) {
        const route = outboundRouteName(outbound.service);
        out.push(sharedResource(mesh, ['route', outbound.service, targetsKey(targets, outbound.service)], () => ({ typeUrl: TYPE_URLS.route, name: route, resource: weightedRoute(route, outbound.service, targets, '/') })));
      }
      for (const target of targets) {
        const healthCheck = selectConnectionPolicy(mesh.healthChecks, sourceTags, { 'kuma.io/service': target.service });
        out.push(...serviceResources(mesh, target.service, target.subset, healthCheck));
      }
    }
    if (needsLogSink) out.push(accessLogSinkCluster(proxy.dataplane.name, mesh.mesh));
    return out;
  },
};

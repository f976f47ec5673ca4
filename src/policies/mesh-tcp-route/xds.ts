import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import { isHttp, statPrefix, tcpProxyFilter } from '../../xds/generators/envoy.js';
import { outboundListenerName } from '../../xds/generators/outbound.js';
import { subsetClusterName } from '../../xds/generators/routing.js';
import { serviceResources } from '../../xds/generators/service.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, HCM, type Json, outboundServices, TCP_PROXY } from '../edits.js';
import type { BackendRef } from '../mesh-http-route/api.js';
import { httpRoutes } from '../mesh-http-route/rules.js';
import { selecting, type TargetRefPolicy } from '../policy.js';
import { mergeConf } from '../targetref.js';
import type { TcpRouteConf } from './api.js';

/** The backends for the dataplane's outbound to `service`: the rules naming it, merged in order (the last wins). */
function tcpBackends(policies: readonly TargetRefPolicy[], name: string, dataplane: ProxyContext['dataplane']['dataplane'], service: string): BackendRef[] | undefined {
  let conf: TcpRouteConf | undefined;
  for (const policy of selecting(policies, name, dataplane)) {
    for (const entry of policy.to) {
      if (entry.targetRef.kind === 'MeshService' && entry.targetRef.name === service) for (const rule of entry.rules ?? []) conf = mergeConf(conf, (rule as { default: TcpRouteConf }).default);
    }
  }
  return conf?.backendRefs;
}

/**
 * Applies the MeshTCPRoutes selecting a sidecar: the outbound's TCP proxy splits by weight across
 * the backends (replacing a legacy TrafficRoute split). On an HTTP service, as Kuma does, a
 * MeshTCPRoute applies only when no MeshHTTPRoute does, and the outbound then proxies TCP.
 * Proxyless gRPC clients have no TCP routes.
 */
export function applyMeshTcpRoutes(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const policies = policiesOf(mesh, 'MeshTCPRoute');
  const { name, dataplane } = proxy.dataplane;
  const sourceTags = dataplane.inbound.map((i) => i.tags);
  for (const service of outboundServices(proxy, mesh)) {
    const refs = tcpBackends(policies, name, dataplane, service);
    if (!refs) continue;
    if (isHttp(mesh.protocols.get(service) ?? 'tcp') && httpRoutes(policiesOf(mesh, 'MeshHTTPRoute'), name, dataplane, service)) continue;
    const clusters = refs.map((r) => ({ cluster: subsetClusterName(r.name, r.kind === 'MeshServiceSubset' ? (r.tags ?? {}) : {}), service: r.name, subset: r.kind === 'MeshServiceSubset' ? (r.tags ?? {}) : {}, weight: r.weight ?? 1 }));
    for (const o of dataplane.outbound.filter((x) => x.service === service)) {
      edits.edit(TYPE_URLS.listener, outboundListenerName(o.address, o.port), (listener) => {
        for (const chain of listener.filter_chains ?? []) {
          chain.filters = (chain.filters as Json[]).map((f) => {
            if (f.name !== TCP_PROXY && f.name !== HCM) return f;
            const tcp = tcpProxyFilter(statPrefix(service), clusters.length === 1 ? clusters[0]!.cluster : clusters);
            if (f.name === HCM) return tcp;
            // Keep what was set on the TCP proxy it replaces (its access log), with the new destination.
            const merged: Json = { ...f.typed_config, ...tcp.typed_config };
            if (clusters.length > 1) delete merged.cluster;
            else delete merged.weighted_clusters;
            return { ...tcp, typed_config: merged };
          });
        }
      });
    }
    for (const c of clusters) {
      if (edits.get(TYPE_URLS.cluster, c.cluster)) continue;
      const healthCheck = selectConnectionPolicy(mesh.healthChecks, sourceTags, { 'kuma.io/service': c.service });
      for (const r of serviceResources(mesh, c.service, c.subset, healthCheck)) edits.add(r);
    }
  }
  return;
}

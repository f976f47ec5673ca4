import { cloneJson } from '../../core/clone.js';
import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { inboundListenerName } from '../../xds/generators/inbound.js';
import { outboundListenerName } from '../../xds/generators/outbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { addHttpFilter, Edits, hcmOf, type Json } from '../edits.js';
import { inboundConf, outboundConf } from '../policy.js';
import { BANDWIDTH, type FaultConf } from './api.js';

/** A percentage (0–100, decimals allowed) as an Envoy FractionalPercent, exact to 1e-4 %. */
const fraction = (p: number | string) => ({ numerator: Math.round(Number(p) * 10_000), denominator: 'MILLION' });
const KBPS: Record<string, number> = { kbps: 1, mbps: 1000, Mbps: 1000, gbps: 1_000_000, Gbps: 1_000_000 };

/** One Envoy HTTP fault filter per entry of `http`, as Kuma builds them. */
export function faultFilters(conf: FaultConf, proxyless = false): Json[] {
  return (conf.http ?? []).filter((fault) => !proxyless || fault.abort || fault.delay).map((fault) => {
    const config: Json = { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' };
    if (fault.abort) config.abort = { http_status: fault.abort.httpStatus, percentage: fraction(fault.abort.percentage) };
    if (fault.delay) config.delay = { fixed_delay: protoDuration(parseDuration(fault.delay.value) ?? 0), percentage: fraction(fault.delay.percentage) };
    if (fault.responseBandwidth && !proxyless) {
      const [, amount, unit] = BANDWIDTH.exec(fault.responseBandwidth.limit)!;
      config.response_rate_limit = { fixed_limit: { limit_kbps: Number(amount) * KBPS[unit!]! }, percentage: fraction(fault.responseBandwidth.percentage) };
    }
    return { name: 'envoy.filters.http.fault', typed_config: config };
  });
}

const addFaults = (hcm: Json | undefined, filters: Json[]) => hcm && filters.forEach((f) => addHttpFilter(hcm, cloneJson(f)));

/**
 * Applies the MeshFaultInjections selecting the proxy: fault filters on the HTTP connection
 * managers of its outbounds (`to`) and inbounds (`from`, `rules`); for a proxyless gRPC client, on
 * the API listener of each service (gRFC A33: aborts, delays; rate limits are not carried).
 */
export function applyMeshFaultInjections(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshFaultInjection');
  const { name, dataplane } = proxy.dataplane;
  if (proxy.proxyless) {
    for (const [service, endpoints] of mesh.endpoints) {
      const conf = outboundConf<FaultConf>(policies, name, dataplane, service);
      if (!conf) continue;
      const filters = faultFilters(conf, true);
      if (filters.length === 0) continue;
      const routeConfig = edits.get(TYPE_URLS.route, service);
      for (const listener of new Set([service, ...endpoints.map((e) => `${service}:${e.port}`)])) {
        edits.edit(TYPE_URLS.listener, listener, (l) => {
          const hcm = l.api_listener?.api_listener as Json | undefined;
          if (!hcm) return;
          addFaults(hcm, filters);
          // grpc-js-xds (1.14) applies a changed Listener only when its route configuration
          // changes too: the routes travel inside the Listener while it carries faults, so adding
          // or removing them swaps rds for route_config, which it does apply.
          if (routeConfig) {
            hcm.route_config = cloneJson(routeConfig);
            delete hcm.rds;
          }
        });
      }
    }
    return;
  }
  for (const o of dataplane.outbound) {
    const conf = outboundConf<FaultConf>(policies, name, dataplane, o.service);
    if (conf) edits.edit(TYPE_URLS.listener, outboundListenerName(o.address, o.port), (l) => addFaults(hcmOf(l), faultFilters(conf)));
  }
  const fromConf = inboundConf<FaultConf>(policies, name, dataplane);
  if (fromConf) for (const i of dataplane.inbound) edits.edit(TYPE_URLS.listener, inboundListenerName(i.address, i.port), (l) => addFaults(hcmOf(l), faultFilters(fromConf)));
  return;
}

import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { inboundListenerName } from '../../xds/generators/inbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { addHttpFilter, Edits, HCM, hcmOf, TCP_PROXY, type Json } from '../edits.js';
import { inboundConf } from '../policy.js';
import type { Rate, RateLimitConf } from './api.js';

/** Kuma's token bucket: `num` tokens, refilled whole every `interval`. */
const bucket = (r: Rate) => ({ max_tokens: r.num, tokens_per_fill: { value: r.num }, fill_interval: protoDuration(parseDuration(r.interval) ?? 0) });
const always = (key: string) => ({ default_value: { numerator: 100, denominator: 'HUNDRED' }, runtime_key: key });

function httpFilter(http: NonNullable<NonNullable<RateLimitConf['local']>['http']>, statPrefix: string): Json {
  const headers = [
    ...(http.onRateLimit?.headers?.add ?? []).map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
    ...(http.onRateLimit?.headers?.set ?? []).map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
  ];
  return {
    name: 'envoy.filters.http.local_ratelimit',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
      stat_prefix: statPrefix,
      token_bucket: bucket(http.requestRate!),
      filter_enabled: always('local_rate_limit_enabled'),
      filter_enforced: always('local_rate_limit_enforced'),
      ...(http.onRateLimit?.status ? { status: { code: http.onRateLimit.status } } : {}),
      ...(headers.length > 0 ? { response_headers_to_add: headers } : {}),
    },
  };
}

function tcpFilter(rate: Rate, statPrefix: string): Json {
  return { name: 'envoy.filters.network.local_ratelimit', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit', stat_prefix: statPrefix, token_bucket: bucket(rate) } };
}

/**
 * Applies the MeshRateLimits selecting a sidecar to its inbounds: Envoy's local rate limit, per
 * HTTP request (before the router) or per TCP connection (before the proxying filter). Proxyless
 * gRPC has no rate limiting; it ignores the policy.
 */
export function applyMeshRateLimits(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const { name, dataplane } = proxy.dataplane;
  const conf = inboundConf<RateLimitConf>(policiesOf(mesh, 'MeshRateLimit'), name, dataplane)?.local;
  if (!conf) return;
  for (const inbound of dataplane.inbound) {
    const listenerName = inboundListenerName(inbound.address, inbound.port);
    const statPrefix = `rate_limit_${listenerName.replace(/[^a-zA-Z0-9]/g, '_')}`;
    edits.edit(TYPE_URLS.listener, listenerName, (listener) => {
      const hcm = hcmOf(listener);
      if (hcm && conf.http && !conf.http.disabled && conf.http.requestRate) addHttpFilter(hcm, httpFilter(conf.http, statPrefix));
      if (!hcm && conf.tcp && !conf.tcp.disabled && conf.tcp.connectionRate) {
        for (const chain of listener.filter_chains ?? []) {
          const at = (chain.filters as Json[]).findIndex((f) => f.name === TCP_PROXY || f.name === HCM);
          chain.filters.splice(at < 0 ? chain.filters.length : at, 0, tcpFilter(conf.tcp.connectionRate, statPrefix));
        }
      }
    });
  }
  return;
}

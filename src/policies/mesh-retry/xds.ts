import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { outboundListenerName, outboundRouteName } from '../../xds/generators/outbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, type Json, outboundServices, perConf, routeActions, tcpProxyOf } from '../edits.js';
import { envoyHeaderMatcher } from '../envoy-match.js';
import { outboundConf } from '../policy.js';
import { GRPC_RETRY_ON, HTTP_RETRY_ON, type RateLimitedBackOff, type RetryConf } from './api.js';

/** Kuma's retryOn when a conf names none. */
const HTTP_RETRY_ON_DEFAULT = 'gateway-error,connect-failure,refused-stream';
const GRPC_RETRY_ON_DEFAULT = 'cancelled,connect-failure,gateway-error,refused-stream,reset,resource-exhausted,unavailable';
const DEFAULT_BASE_INTERVAL = '25ms';

const proto = (text: string) => protoDuration(parseDuration(text) ?? 0);

function rateLimited(conf: RateLimitedBackOff): Json {
  return {
    reset_headers: (conf.resetHeaders ?? []).map((h) => ({ name: h.name, format: h.format === 'UnixTimestamp' ? 'UNIX_TIMESTAMP' : 'SECONDS' })),
    ...(conf.maxInterval ? { max_interval: proto(conf.maxInterval) } : {}),
  };
}

/** Kuma's HTTP retry policy; undefined when `numRetries` is 0 (no retries). */
export function httpRetryPolicy(conf: NonNullable<RetryConf['http']>): Json | undefined {
  if (conf.numRetries === 0) return undefined;
  const policy: Json = { retry_on: HTTP_RETRY_ON_DEFAULT };
  if (conf.perTryTimeout) policy.per_try_timeout = proto(conf.perTryTimeout);
  if (conf.numRetries !== undefined) policy.num_retries = { value: conf.numRetries };
  if (conf.backOff) policy.retry_back_off = { ...(conf.backOff.baseInterval ? { base_interval: proto(conf.backOff.baseInterval) } : { base_interval: proto(DEFAULT_BASE_INTERVAL) }), ...(conf.backOff.maxInterval ? { max_interval: proto(conf.backOff.maxInterval) } : {}) };
  if (conf.rateLimitedBackOff) policy.rate_limited_retry_back_off = rateLimited(conf.rateLimitedBackOff);
  const on: string[] = [];
  const codes: number[] = [];
  const methods: string[] = [];
  for (const item of conf.retryOn ?? []) {
    if (/^[0-9]+$/.test(item)) codes.push(Number(item));
    else if (item.startsWith('HttpMethod')) methods.push(item.slice('HttpMethod'.length).toUpperCase());
    else on.push(HTTP_RETRY_ON[item]!);
  }
  if (on.length > 0) policy.retry_on = on.join(',');
  if (codes.length > 0) {
    policy.retriable_status_codes = codes;
    if (!String(policy.retry_on).split(',').includes('retriable-status-codes')) policy.retry_on = `${policy.retry_on},retriable-status-codes`;
  }
  const requestHeaders = [...methods.map((m) => ({ name: ':method', string_match: { exact: m } })), ...(conf.retriableRequestHeaders ?? []).map(envoyHeaderMatcher)];
  if (requestHeaders.length > 0) policy.retriable_request_headers = requestHeaders;
  if (conf.retriableResponseHeaders?.length) policy.retriable_headers = conf.retriableResponseHeaders.map(envoyHeaderMatcher);
  const predicates: Json[] = [];
  for (const p of conf.hostSelection ?? []) {
    if (p.predicate === 'OmitPreviousHosts') predicates.push({ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } });
    else if (p.predicate === 'OmitHostsWithTags') {
      const fields = Object.fromEntries(Object.entries(p.tags ?? {}).map(([k, v]) => [k, { string_value: v }]));
      predicates.push({ name: 'envoy.retry_host_predicates.omit_host_metadata', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig', metadata_match: { filter_metadata: { 'envoy.lb': { fields } } } } });
    } else policy.retry_priority = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: p.updateFrequency ?? 0 } };
  }
  if (predicates.length > 0) policy.retry_host_predicate = predicates;
  if (conf.hostSelectionMaxAttempts !== undefined) policy.host_selection_retry_max_attempts = conf.hostSelectionMaxAttempts;
  return policy;
}

/** Kuma's gRPC retry policy; undefined when `numRetries` is 0. */
export function grpcRetryPolicy(conf: NonNullable<RetryConf['grpc']>): Json | undefined {
  if (conf.numRetries === 0) return undefined;
  const policy: Json = { retry_on: conf.retryOn?.length ? conf.retryOn.map((r) => GRPC_RETRY_ON[r]).join(',') : GRPC_RETRY_ON_DEFAULT };
  if (conf.perTryTimeout) policy.per_try_timeout = proto(conf.perTryTimeout);
  if (conf.numRetries !== undefined) policy.num_retries = { value: conf.numRetries };
  if (conf.backOff) policy.retry_back_off = { base_interval: proto(conf.backOff.baseInterval ?? DEFAULT_BASE_INTERVAL), ...(conf.backOff.maxInterval ? { max_interval: proto(conf.backOff.maxInterval) } : {}) };
  if (conf.rateLimitedBackOff) policy.rate_limited_retry_back_off = rateLimited(conf.rateLimitedBackOff);
  return policy;
}

/**
 * Proxyless gRPC (gRFC A44) reads `retry_on` (the gRPC status names), `num_retries` (attempts are
 * capped at 5) and `retry_back_off`; it needs a base interval, so one is always set.
 */
function proxylessRetryPolicy(conf: NonNullable<RetryConf['grpc']>): Json | undefined {
  const policy = grpcRetryPolicy(conf);
  if (!policy) return undefined;
  const names = new Set(Object.values(GRPC_RETRY_ON));
  const rest = { ...policy };
  delete rest.per_try_timeout;
  return { ...rest, retry_on: String(policy.retry_on).split(',').filter((r) => names.has(r)).join(','), retry_back_off: policy.retry_back_off ?? { base_interval: proto(DEFAULT_BASE_INTERVAL) } };
}

/**
 * A route's retry policy for a merged conf and the destination's protocol, with its shared-edit
 * key, built once per conf (proxies with the same selection share the conf object). As Kuma: HTTP
 * confs for http services, gRPC confs for grpc ones (TCP is the listener's; http2: none).
 */
const routePolicyOf = perConf((conf: RetryConf, protocol: string): { policy: Json; key: string } | undefined => {
  const policy = protocol === 'http' && conf.http ? httpRetryPolicy(conf.http) : protocol === 'grpc' && conf.grpc ? grpcRetryPolicy(conf.grpc) : undefined;
  return policy && { policy, key: `MeshRetry ${JSON.stringify(policy)}` };
});

/** Applies the MeshRetries selecting the proxy: route retry policies (HTTP, gRPC) and TCP connect attempts. */
export function applyMeshRetries(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshRetry');
  const { name, dataplane } = proxy.dataplane;
  if (proxy.proxyless) {
    for (const service of mesh.endpoints.keys()) {
      const grpc = outboundConf<RetryConf>(policies, name, dataplane, service)?.grpc;
      const policy = grpc && proxylessRetryPolicy(grpc);
      if (policy) edits.edit(TYPE_URLS.route, service, (route) => routeActions(route).forEach((a) => (a.retry_policy = policy)));
    }
    return;
  }
  for (const service of outboundServices(proxy, mesh)) {
    const conf = outboundConf<RetryConf>(policies, name, dataplane, service);
    if (!conf) continue;
    const protocol = mesh.protocols.get(service) ?? 'tcp';
    const route = routePolicyOf(conf, protocol);
    // These edits read only their resource and the conf: proxies with equal inputs share the result.
    if (route) edits.edit(TYPE_URLS.route, outboundRouteName(service), (r) => routeActions(r).forEach((a) => (a.retry_policy = route.policy)), route.key);
    if (protocol === 'tcp' && conf.tcp?.maxConnectAttempt) {
      for (const o of dataplane.outbound.filter((x) => x.service === service)) {
        edits.edit(TYPE_URLS.listener, outboundListenerName(o.address, o.port), (listener) => {
          const tcp = tcpProxyOf(listener);
          if (tcp) tcp.max_connect_attempts = { value: conf.tcp!.maxConnectAttempt };
        }, `MeshRetry tcp ${conf.tcp.maxConnectAttempt}`);
      }
    }
  }
  return;
}

import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { localClusterName } from '../../xds/generators/inbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, type Json, outboundServices, perConf } from '../edits.js';
import { inboundConf, outboundConf } from '../policy.js';
import type { CircuitBreakerConf } from './api.js';

const proto = (text: string) => protoDuration(parseDuration(text) ?? 0);
const u32 = (value: number | undefined) => (value === undefined ? undefined : { value });

function thresholds(limits: NonNullable<CircuitBreakerConf['connectionLimits']>): Json {
  const t: Json = { priority: 'DEFAULT', track_remaining: true };
  for (const [field, key] of [['max_connection_pools', 'maxConnectionPools'], ['max_connections', 'maxConnections'], ['max_pending_requests', 'maxPendingRequests'], ['max_retries', 'maxRetries'], ['max_requests', 'maxRequests']] as const) {
    if (limits[key] !== undefined) t[field] = u32(limits[key]);
  }
  return { thresholds: [t] };
}

/** Kuma's outlier detection: detectors left out are not enforced; a disabled one sets nothing. */
function outlierDetection(conf: NonNullable<CircuitBreakerConf['outlierDetection']>): Json | undefined {
  if (conf.disabled) return undefined;
  const o: Json = {};
  if (conf.interval) o.interval = proto(conf.interval);
  if (conf.baseEjectionTime) o.base_ejection_time = proto(conf.baseEjectionTime);
  if (conf.splitExternalAndLocalErrors !== undefined) o.split_external_local_origin_errors = conf.splitExternalAndLocalErrors;
  if (conf.maxEjectionPercent !== undefined) o.max_ejection_percent = u32(conf.maxEjectionPercent);
  const d = conf.detectors ?? {};
  o.enforcing_consecutive_5xx = u32(d.totalFailures ? 100 : 0);
  if (d.totalFailures?.consecutive !== undefined) o.consecutive_5xx = u32(d.totalFailures.consecutive);
  o.enforcing_consecutive_local_origin_failure = u32(d.localOriginFailures ? 100 : 0);
  if (d.localOriginFailures?.consecutive !== undefined) o.consecutive_local_origin_failure = u32(d.localOriginFailures.consecutive);
  o.enforcing_consecutive_gateway_failure = u32(d.gatewayFailures ? 100 : 0);
  if (d.gatewayFailures?.consecutive !== undefined) o.consecutive_gateway_failure = u32(d.gatewayFailures.consecutive);
  if (conf.detectors) {
    o.enforcing_success_rate = u32(d.successRate ? 100 : 0);
    o.enforcing_local_origin_success_rate = u32(d.successRate ? 100 : 0);
    if (d.successRate?.minimumHosts !== undefined) o.success_rate_minimum_hosts = u32(d.successRate.minimumHosts);
    if (d.successRate?.requestVolume !== undefined) o.success_rate_request_volume = u32(d.successRate.requestVolume);
    // Envoy takes the factor times 1000 (1.9 → 1900).
    if (d.successRate?.standardDeviationFactor !== undefined) o.success_rate_stdev_factor = u32(Math.round(Number(d.successRate.standardDeviationFactor) * 1000));
    o.enforcing_failure_percentage = u32(d.failurePercentage ? 100 : 0);
    o.enforcing_failure_percentage_local_origin = u32(d.failurePercentage ? 100 : 0);
    if (d.failurePercentage?.minimumHosts !== undefined) o.failure_percentage_minimum_hosts = u32(d.failurePercentage.minimumHosts);
    if (d.failurePercentage?.requestVolume !== undefined) o.failure_percentage_request_volume = u32(d.failurePercentage.requestVolume);
    if (d.failurePercentage?.threshold !== undefined) o.failure_percentage_threshold = u32(d.failurePercentage.threshold);
  }
  return o;
}

function configure(cluster: Json, conf: CircuitBreakerConf, proxyless: boolean): void {
  if (conf.connectionLimits) {
    // gRPC clients honour only max_requests (gRFC A32).
    cluster.circuit_breakers = proxyless ? (conf.connectionLimits.maxRequests !== undefined ? { thresholds: [{ priority: 'DEFAULT', max_requests: u32(conf.connectionLimits.maxRequests) }] } : undefined) : thresholds(conf.connectionLimits);
    if (!cluster.circuit_breakers) delete cluster.circuit_breakers;
  }
  if (conf.outlierDetection && !proxyless) {
    const o = outlierDetection(conf.outlierDetection);
    if (o) cluster.outlier_detection = o;
    if (o && conf.outlierDetection.healthyPanicThreshold !== undefined) (cluster.common_lb_config ??= {}).healthy_panic_threshold = { value: Number(conf.outlierDetection.healthyPanicThreshold) };
  }
}

/** The shared-edit key of a merged conf, for outbound clusters of sidecars or proxyless clients, or inbound ones. */
const sharedKey = perConf((conf: CircuitBreakerConf, side: string) => `MeshCircuitBreaker ${side} ${JSON.stringify(conf)}`);

/** Applies the MeshCircuitBreakers selecting the proxy to its outbound clusters and its inbounds' local clusters. */
export function applyMeshCircuitBreakers(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshCircuitBreaker');
  const { name, dataplane } = proxy.dataplane;
  for (const service of outboundServices(proxy, mesh)) {
    const conf = outboundConf<CircuitBreakerConf>(policies, name, dataplane, service);
    if (conf) for (const cluster of edits.clustersOf(service)) edits.edit(TYPE_URLS.cluster, cluster, (c) => configure(c, conf, proxy.proxyless === true), sharedKey(conf, proxy.proxyless ? 'proxyless' : 'sidecar'));
  }
  const fromConf = proxy.proxyless ? undefined : inboundConf<CircuitBreakerConf>(policies, name, dataplane);
  if (fromConf) for (const i of dataplane.inbound) edits.edit(TYPE_URLS.cluster, localClusterName(i.servicePort), (c) => configure(c, fromConf, false), sharedKey(fromConf, 'inbound'));
  return;
}

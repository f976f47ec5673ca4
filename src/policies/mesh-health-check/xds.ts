import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot, type Protocol } from '../../core/mesh-snapshot.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, type Json, outboundServices } from '../edits.js';
import { outboundConf } from '../policy.js';
import type { HealthCheckConf } from './api.js';

/** Kuma's values for what a MeshHealthCheck leaves unset. */
const DEFAULTS = { interval: '1m', timeout: '15s', unhealthyThreshold: 5, healthyThreshold: 1 };
const proto = (text: string) => protoDuration(parseDuration(text) ?? 0);
const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');

/** Kuma's choice: the protocol's own checker unless disabled, then TCP if enabled; none otherwise. */
function checker(protocol: Protocol, conf: HealthCheckConf): Json | undefined {
  const { tcp, http, grpc } = conf;
  const httpLike = protocol === 'http' || protocol === 'http2';
  const tcpChecker = () => ({ tcp_health_check: { ...(tcp?.send !== undefined ? { send: { text: hex(tcp.send) } } : {}), ...(tcp?.receive ? { receive: tcp.receive.map((r) => ({ text: hex(r) })) } : {}) } });
  if (httpLike && http && !http.disabled) {
    const headers = [
      ...(http.requestHeadersToAdd?.add ?? []).flatMap((h) => h.value.split(',').map((value) => ({ header: { key: h.name, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }))),
      ...(http.requestHeadersToAdd?.set ?? []).flatMap((h) => h.value.split(',').map((value) => ({ header: { key: h.name, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }))),
    ];
    return {
      http_health_check: {
        path: http.path ?? '/',
        ...(headers.length > 0 ? { request_headers_to_add: headers } : {}),
        ...(http.expectedStatuses ? { expected_statuses: http.expectedStatuses.map((s) => ({ start: s, end: s + 1 })) } : {}),
        codec_client_type: protocol === 'http2' ? 'HTTP2' : 'HTTP1',
      },
    };
  }
  if (protocol === 'grpc' && grpc && !grpc.disabled) return { grpc_health_check: { service_name: grpc.serviceName ?? '', authority: grpc.authority ?? '' } };
  if (tcp && !tcp.disabled && (protocol === 'tcp' || (httpLike && http?.disabled) || (protocol === 'grpc' && grpc?.disabled))) return tcpChecker();
  return undefined;
}

function healthCheck(conf: HealthCheckConf, chosen: Json): Json {
  return {
    interval: proto(conf.interval ?? DEFAULTS.interval),
    timeout: proto(conf.timeout ?? DEFAULTS.timeout),
    unhealthy_threshold: { value: conf.unhealthyThreshold ?? DEFAULTS.unhealthyThreshold },
    healthy_threshold: { value: conf.healthyThreshold ?? DEFAULTS.healthyThreshold },
    ...(conf.initialJitter ? { initial_jitter: proto(conf.initialJitter) } : {}),
    ...(conf.intervalJitter ? { interval_jitter: proto(conf.intervalJitter) } : {}),
    ...(conf.intervalJitterPercent !== undefined ? { interval_jitter_percent: conf.intervalJitterPercent } : {}),
    ...(conf.eventLogPath
      ? { event_logger: [{ name: 'envoy.health_check.event_sinks.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink', event_log_path: conf.eventLogPath } }] }
      : {}),
    ...(conf.alwaysLogHealthCheckFailures !== undefined ? { always_log_health_check_failures: conf.alwaysLogHealthCheckFailures } : {}),
    ...(conf.noTrafficInterval ? { no_traffic_interval: proto(conf.noTrafficInterval) } : {}),
    ...(conf.reuseConnection !== undefined ? { reuse_connection: { value: conf.reuseConnection } } : {}),
    ...chosen,
  };
}

/**
 * Applies the MeshHealthChecks selecting a sidecar to its outbound clusters; where one applies it
 * replaces the legacy HealthCheck's checks (the successor wins). Proxyless gRPC clients do not run
 * active health checks.
 */
export function applyMeshHealthChecks(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const policies = policiesOf(mesh, 'MeshHealthCheck');
  const { name, dataplane } = proxy.dataplane;
  for (const service of outboundServices(proxy, mesh)) {
    const conf = outboundConf<HealthCheckConf>(policies, name, dataplane, service);
    if (!conf) continue;
    const chosen = checker(mesh.protocols.get(service) ?? 'tcp', conf);
    for (const cluster of edits.clustersOf(service)) {
      edits.edit(TYPE_URLS.cluster, cluster, (c) => {
        if (chosen) c.health_checks = [healthCheck(conf, chosen)];
        else delete c.health_checks;
        if (conf.healthyPanicThreshold !== undefined) (c.common_lb_config ??= {}).healthy_panic_threshold = { value: Number(conf.healthyPanicThreshold) };
        if (conf.failTrafficOnPanic !== undefined) ((c.common_lb_config ??= {}).zone_aware_lb_config ??= {}).fail_traffic_on_panic = conf.failTrafficOnPanic;
      }, `MeshHealthCheck ${mesh.protocols.get(service) ?? 'tcp'} ${JSON.stringify(conf)}`);
    }
  }
  return;
}

import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { inboundListenerName } from '../../xds/generators/inbound.js';
import { outboundListenerName } from '../../xds/generators/outbound.js';
import { accessLogSinkCluster, DEFAULT_HTTP_LOG_FORMAT, DEFAULT_TCP_LOG_FORMAT, fileAccessLog, resolveKumaPlaceholders, tcpAccessLog, type LogContext } from '../../xds/generators/traffic-log.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { collectorCluster, Edits, hcmOf, tcpProxyOf, type Json } from '../edits.js';
import { inboundConf, outboundConf } from '../policy.js';
import { hostPort, type AccessLogConf, type Backend, type LogFormat } from './api.js';

const otelCluster = (endpoint: string) => `meshaccesslog:opentelemetry:${endpoint}`;

/** A format as text (Plain, or Json written as a JSON line for the TCP launcher), or fields for Envoy's JSON file logs. */
function textOf(format: LogFormat | undefined, http: boolean, ctx: LogContext): string {
  if (format?.type === 'Json') return resolveKumaPlaceholders(JSON.stringify(Object.fromEntries((format.json ?? []).map((f) => [f.key, f.value]))), ctx);
  return resolveKumaPlaceholders(format?.plain ?? (http ? DEFAULT_HTTP_LOG_FORMAT : DEFAULT_TCP_LOG_FORMAT), ctx);
}

function entriesOf(backend: Backend, http: boolean, ctx: LogContext): { entries: Json[]; sink: boolean; otel?: string } {
  if (backend.file) {
    const f = backend.file.format;
    const log = f?.type === 'Json' ? fileAccessLog(backend.file.path, { json: Object.fromEntries((f.json ?? []).map((x) => [x.key, resolveKumaPlaceholders(x.value, ctx)])), omitEmptyValues: f.omitEmptyValues }) : fileAccessLog(backend.file.path, { text: textOf(f, http, ctx) });
    return { entries: log.entries as Json[], sink: false };
  }
  if (backend.tcp) return { entries: tcpAccessLog(backend.tcp.address.replace(/^tcp:\/\//, ''), textOf(backend.tcp.format, http, ctx), http).entries as Json[], sink: true };
  const otel = backend.openTelemetry!;
  const body = otel.body === undefined ? textOf(undefined, http, ctx) : typeof otel.body === 'string' ? resolveKumaPlaceholders(otel.body, ctx) : resolveKumaPlaceholders(JSON.stringify(otel.body), ctx);
  return {
    entries: [
      {
        name: 'envoy.access_loggers.open_telemetry',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig',
          common_config: { log_name: 'MeshAccessLog', grpc_service: { envoy_grpc: { cluster_name: otelCluster(otel.endpoint) } }, transport_api_version: 'V3' },
          body: { string_value: body },
          ...(otel.attributes?.length ? { attributes: { values: otel.attributes.map((a) => ({ key: a.key, value: { string_value: resolveKumaPlaceholders(a.value, ctx) } })) } } : {}),
        },
      },
    ],
    sink: false,
    otel: otel.endpoint,
  };
}

/**
 * Applies the MeshAccessLogs selecting a sidecar: the access logs of its outbounds (`to`) and
 * inbounds (`from`, `rules`), replacing what a legacy TrafficLog set there (the successor wins).
 * Proxyless gRPC clients have no access logs.
 */
export function applyMeshAccessLogs(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const policies = policiesOf(mesh, 'MeshAccessLog');
  const { name, dataplane } = proxy.dataplane;
  const sourceService = dataplane.inbound[0]?.service ?? 'unknown';
  let sink = false;
  const collectors = new Set<string>();
  const place = (listenerName: string, conf: AccessLogConf, ctx: LogContext) =>
    edits.edit(TYPE_URLS.listener, listenerName, (l) => {
      const hcm = hcmOf(l);
      const built = (conf.backends ?? []).map((b) => entriesOf(b, hcm !== undefined, ctx));
      sink ||= built.some((b) => b.sink);
      for (const b of built) if (b.otel) collectors.add(b.otel);
      const target = hcm ?? tcpProxyOf(l);
      if (target) target.access_log = built.flatMap((b) => b.entries);
    });
  for (const o of dataplane.outbound) {
    const conf = outboundConf<AccessLogConf>(policies, name, dataplane, o.service);
    if (conf) place(outboundListenerName(o.address, o.port), conf, { mesh: mesh.mesh, sourceService, destinationService: o.service, sourceAddress: dataplane.address });
  }
  const fromConf = inboundConf<AccessLogConf>(policies, name, dataplane);
  if (fromConf) {
    for (const i of dataplane.inbound) place(inboundListenerName(i.address, i.port), fromConf, { mesh: mesh.mesh, sourceService: 'unknown', destinationService: i.service, sourceAddress: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' });
  }
  if (sink && !edits.get(TYPE_URLS.cluster, accessLogSinkCluster(name, mesh.mesh).name)) edits.add(accessLogSinkCluster(name, mesh.mesh));
  for (const endpoint of collectors) {
    const { host, port } = hostPort(endpoint)!;
    edits.add(collectorCluster(otelCluster(endpoint), host, port, { http2: true }));
  }
  return;
}

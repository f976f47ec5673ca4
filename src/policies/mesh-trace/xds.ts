import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { mergeConf } from '../targetref.js';
import type { GeneratedResource, ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { hostPort } from '../mesh-access-log/api.js';
import { collectorCluster, Edits, hcmOf, type Json } from '../edits.js';
import { selecting } from '../policy.js';
import { collectorUrl, type TraceConf } from './api.js';

const percent = (p: number | string) => ({ value: Number(p) });

/** The HCM `tracing` block and the collector's cluster, Kuma's way (cluster `meshtrace:{provider}`). */
function tracing(conf: TraceConf, service: string): { tracing: Json; cluster?: GeneratedResource } {
  const t: Json = { spawn_upstream_span: { value: false } };
  if (conf.sampling?.overall !== undefined) t.overall_sampling = percent(conf.sampling.overall);
  if (conf.sampling?.client !== undefined) t.client_sampling = percent(conf.sampling.client);
  if (conf.sampling?.random !== undefined) t.random_sampling = percent(conf.sampling.random);
  if (conf.tags?.length) {
    t.custom_tags = conf.tags.map((tag) => (tag.literal !== undefined ? { tag: tag.name, literal: { value: tag.literal } } : { tag: tag.name, request_header: { name: tag.header!.name, ...(tag.header!.default !== undefined ? { default_value: tag.header!.default } : {}) } }));
  }
  const backend = conf.backends?.[0];
  if (!backend) return { tracing: t };
  if (backend.zipkin) {
    const url = collectorUrl(backend.zipkin.url)!;
    const cluster = 'meshtrace:zipkin';
    t.provider = {
      name: 'envoy.tracers.zipkin',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
        collector_cluster: cluster,
        collector_endpoint: url.path,
        trace_id_128bit: backend.zipkin.traceId128bit ?? false,
        collector_endpoint_version: backend.zipkin.apiVersion === 'httpProto' ? 'HTTP_PROTO' : 'HTTP_JSON',
        shared_span_context: { value: backend.zipkin.sharedSpanContext ?? true },
        collector_hostname: url.host,
      },
    };
    return { tracing: t, cluster: collectorCluster(cluster, url.host, url.port, { http2: false, tls: url.tls }) };
  }
  if (backend.datadog) {
    const url = collectorUrl(backend.datadog.url)!;
    const cluster = 'meshtrace:datadog';
    t.provider = { name: 'envoy.tracers.datadog', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.DatadogConfig', collector_cluster: cluster, service_name: service } };
    return { tracing: t, cluster: collectorCluster(cluster, url.host, url.port, { http2: false, tls: url.tls }) };
  }
  const { host, port } = hostPort(backend.openTelemetry!.endpoint)!;
  const cluster = 'meshtrace:opentelemetry';
  t.provider = { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig', grpc_service: { envoy_grpc: { cluster_name: cluster } }, service_name: service } };
  return { tracing: t, cluster: collectorCluster(cluster, host, port, { http2: true }) };
}

/**
 * Applies the MeshTraces selecting a sidecar (their `default`s merged in order) to every HTTP
 * connection manager it has, inbound and outbound. gRPC's xDS support has no tracing: proxyless
 * clients ignore it.
 */
export function applyMeshTraces(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const { name, dataplane } = proxy.dataplane;
  let conf: TraceConf | undefined;
  for (const policy of selecting(policiesOf(mesh, 'MeshTrace'), name, dataplane)) if (policy.default) conf = mergeConf(conf, policy.default as TraceConf);
  if (!conf) return;
  const built = tracing(conf, dataplane.inbound[0]?.service ?? name);
  for (const listener of edits.names(TYPE_URLS.listener)) {
    if (!hcmOf(edits.get(TYPE_URLS.listener, listener)!)) continue;
    edits.edit(TYPE_URLS.listener, listener, (l) => {
      for (const chain of l.filter_chains ?? []) for (const f of chain.filters ?? []) if (f.name === 'envoy.filters.network.http_connection_manager') f.typed_config.tracing = built.tracing;
    });
  }
  if (built.cluster) edits.add(built.cluster);
  return;
}

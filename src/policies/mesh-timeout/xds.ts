import { parseDuration, protoDuration } from '../../core/duration.js';
import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { isHttp } from '../../xds/generators/envoy.js';
import { inboundListenerName, localClusterName } from '../../xds/generators/inbound.js';
import { outboundListenerName, outboundRouteName } from '../../xds/generators/outbound.js';
import type { GeneratedResource, ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import type { TimeoutConf } from './api.js';
import { inboundTimeouts, outboundTimeouts, selecting } from './rules.js';

type Json = Record<string, any>;

/** Kuma's values for what a MeshTimeout that applies to an outbound leaves unset. */
const OUTBOUND_DEFAULTS = { connectionTimeout: '5s', idleTimeout: '1h', requestTimeout: '15s', streamIdleTimeout: '30m', maxStreamDuration: '0s', maxConnectionDuration: '0s', requestHeadersTimeout: '0s' };
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const proto = (text: string) => protoDuration(parseDuration(text) ?? 0);

/** Generated resources may be shared by many proxies: edits go to copies, keyed by type and name. */
class Edits {
  private readonly index = new Map<string, number>();
  constructor(readonly resources: GeneratedResource[]) {
    resources.forEach((r, i) => this.index.set(`${r.typeUrl}|${r.name}`, i));
  }
  edit(typeUrl: string, name: string, change: (resource: Json) => void): void {
    const i = this.index.get(`${typeUrl}|${name}`);
    if (i === undefined) return;
    const copy = structuredClone(this.resources[i]!.resource) as Json;
    change(copy);
    this.resources[i] = { ...this.resources[i]!, resource: copy };
  }
  names(typeUrl: string): string[] {
    return this.resources.filter((r) => r.typeUrl === typeUrl).map((r) => r.name);
  }
}

const filtersOf = (listener: Json): Json[] => (listener.filter_chains ?? []).flatMap((c: Json) => c.filters ?? []);
const hcmOf = (listener: Json) => filtersOf(listener).find((f) => f.name === 'envoy.filters.network.http_connection_manager')?.typed_config as Json | undefined;
const tcpProxyOf = (listener: Json) => filtersOf(listener).find((f) => f.name === 'envoy.filters.network.tcp_proxy')?.typed_config as Json | undefined;
const routeActions = (route: Json): Json[] => (route.virtual_hosts ?? []).flatMap((vh: Json) => (vh.routes ?? []).map((r: Json) => r.route).filter(Boolean));

function outbound(edits: Edits, clusters: readonly string[], proxy: ProxyContext, mesh: MeshSnapshot, service: string, conf: TimeoutConf): void {
  const v = { ...OUTBOUND_DEFAULTS, ...conf, ...conf.http };
  const protocol = mesh.protocols.get(service) ?? 'tcp';
  // The service's cluster and its TrafficRoute subset clusters (`{service}[tag=value]`).
  for (const name of clusters.filter((n) => n === service || n.startsWith(`${service}[`))) {
    edits.edit(TYPE_URLS.cluster, name, (cluster) => {
      cluster.connect_timeout = proto(v.connectionTimeout);
      // As Kuma: HTTP/1.1 and HTTP/2 clusters (not gRPC) get the HTTP connection timeouts.
      if (protocol !== 'http' && protocol !== 'http2') return;
      const options = ((cluster.typed_extension_protocol_options ??= {})[HTTP_OPTIONS] ??= {
        '@type': `type.googleapis.com/${HTTP_OPTIONS}`,
        explicit_http_config: { http_protocol_options: {} },
      });
      options.common_http_protocol_options = { idle_timeout: proto(v.idleTimeout), max_stream_duration: proto(v.maxStreamDuration), max_connection_duration: proto(v.maxConnectionDuration) };
    });
  }
  for (const o of proxy.dataplane.dataplane.outbound.filter((x) => x.service === service)) {
    edits.edit(TYPE_URLS.listener, outboundListenerName(o.address, o.port), (listener) => {
      const hcm = hcmOf(listener);
      if (hcm) {
        hcm.request_headers_timeout = proto(v.requestHeadersTimeout);
        hcm.common_http_protocol_options = { ...hcm.common_http_protocol_options, idle_timeout: proto('0s') };
      }
      const tcp = tcpProxyOf(listener);
      if (tcp) tcp.idle_timeout = proto(v.idleTimeout);
    });
  }
  if (isHttp(protocol)) {
    edits.edit(TYPE_URLS.route, outboundRouteName(service), (route) => {
      for (const action of routeActions(route)) {
        action.timeout = proto(v.requestTimeout);
        action.idle_timeout = proto(v.streamIdleTimeout);
      }
    });
  }
}

/** Inbounds: only what the policy sets changes (the rest keeps Skiff's inbound defaults). */
function inbound(edits: Edits, proxy: ProxyContext, conf: TimeoutConf): void {
  const http = conf.http ?? {};
  for (const i of proxy.dataplane.dataplane.inbound) {
    const name = inboundListenerName(i.address, i.port);
    edits.edit(TYPE_URLS.listener, name, (listener) => {
      const hcm = hcmOf(listener);
      if (hcm) {
        const common = { ...hcm.common_http_protocol_options };
        if (conf.idleTimeout) common.idle_timeout = proto(conf.idleTimeout);
        if (http.maxStreamDuration) common.max_stream_duration = proto(http.maxStreamDuration);
        if (http.maxConnectionDuration) common.max_connection_duration = proto(http.maxConnectionDuration);
        hcm.common_http_protocol_options = common;
        if (http.streamIdleTimeout) hcm.stream_idle_timeout = proto(http.streamIdleTimeout);
        if (http.requestHeadersTimeout) hcm.request_headers_timeout = proto(http.requestHeadersTimeout);
      }
      const tcp = tcpProxyOf(listener);
      if (tcp && conf.idleTimeout) tcp.idle_timeout = proto(conf.idleTimeout);
    });
    if (http.requestTimeout) edits.edit(TYPE_URLS.route, name, (route) => routeActions(route).forEach((a) => (a.timeout = proto(http.requestTimeout!))));
    if (conf.connectionTimeout) edits.edit(TYPE_URLS.cluster, localClusterName(i.servicePort), (c) => (c.connect_timeout = proto(conf.connectionTimeout!)));
  }
}

/**
 * Proxyless gRPC clients take what gRPC's xDS support carries (gRFC A31): the route's
 * `max_stream_duration`, from `http.maxStreamDuration` or else `http.requestTimeout`, as the
 * deadline of each RPC on that route. The other fields have no place in a gRPC client's config.
 */
function proxyless(edits: Edits, service: string, conf: TimeoutConf): void {
  const limit = conf.http?.maxStreamDuration ?? conf.http?.requestTimeout;
  if (!limit) return;
  edits.edit(TYPE_URLS.route, service, (route) => routeActions(route).forEach((a) => (a.max_stream_duration = { max_stream_duration: proto(limit) })));
}

/** Applies the MeshTimeouts that select the proxy to its generated resources (Kuma's plugin Apply). */
export function applyMeshTimeouts(resources: GeneratedResource[], proxy: ProxyContext, mesh: MeshSnapshot): GeneratedResource[] {
  if (mesh.meshTimeouts.length === 0) return resources;
  const { name, dataplane } = proxy.dataplane;
  const edits = new Edits([...resources]);
  if (proxy.proxyless) {
    for (const service of mesh.endpoints.keys()) {
      const conf = outboundTimeouts(mesh.meshTimeouts, name, dataplane, service);
      if (conf) proxyless(edits, service, conf);
    }
    return edits.resources;
  }
  const clusters = edits.names(TYPE_URLS.cluster);
  for (const service of new Set(dataplane.outbound.map((o) => o.service))) {
    const conf = outboundTimeouts(mesh.meshTimeouts, name, dataplane, service);
    if (conf) outbound(edits, clusters, proxy, mesh, service, conf);
  }
  const fromConf = inboundTimeouts(mesh.meshTimeouts, name, dataplane);
  if (fromConf) inbound(edits, proxy, fromConf);
  return edits.resources;
}

/** What of the MeshTimeouts a proxyless dataplane's shared snapshot depends on: the policies selecting it. */
export function meshTimeoutSelectionKey(mesh: MeshSnapshot, name: string, dataplane: ProxyContext['dataplane']['dataplane']): string {
  return mesh.meshTimeouts.length === 0 ? '' : selecting(mesh.meshTimeouts, name, dataplane).map((p) => p.name).join(',');
}

import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { isHttp } from '../../xds/generators/envoy.js';
import { inboundListenerName, localClusterName } from '../../xds/generators/inbound.js';
import { outboundListenerName, outboundRouteName } from '../../xds/generators/outbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, HCM, hcmOf, outboundServices, perConf, routeActions, TCP_PROXY, tcpProxyOf, withFilterConfig } from '../edits.js';
import { inboundConf, outboundConf } from '../policy.js';
import type { TimeoutConf } from './api.js';

/** Kuma's values for what a MeshTimeout that applies to an outbound leaves unset. */
const OUTBOUND_DEFAULTS = { connectionTimeout: '5s', idleTimeout: '1h', requestTimeout: '15s', streamIdleTimeout: '30m', maxStreamDuration: '0s', maxConnectionDuration: '0s', requestHeadersTimeout: '0s' };
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const proto = (text: string) => protoDuration(parseDuration(text) ?? 0);

/** An outbound conf with Kuma's defaults filled in; per merged conf, which proxies with the same selection share. */
const withDefaults = perConf((conf: TimeoutConf) => ({ ...OUTBOUND_DEFAULTS, ...conf, ...conf.http }));
/** Every outbound edit reads only its resource, the filled-in conf and the protocol: proxies with equal ones share the result. */
const sharedKey = perConf((conf: TimeoutConf, protocol: string) => `MeshTimeout ${protocol} ${JSON.stringify(withDefaults(conf))}`);

function outbound(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot, service: string, conf: TimeoutConf): void {
  const v = withDefaults(conf);
  const protocol = mesh.protocols.get(service) ?? 'tcp';
  const shared = sharedKey(conf, protocol);
  // The service's cluster and its TrafficRoute subset clusters (`{service}[tag=value]`).
  for (const name of edits.clustersOf(service)) {
    edits.edit(TYPE_URLS.cluster, name, (cluster) => {
      cluster.connect_timeout = proto(v.connectionTimeout);
      // As Kuma: HTTP/1.1 and HTTP/2 clusters (not gRPC) get the HTTP connection timeouts.
      if (protocol !== 'http' && protocol !== 'http2') return;
      const options = ((cluster.typed_extension_protocol_options ??= {})[HTTP_OPTIONS] ??= {
        '@type': `type.googleapis.com/${HTTP_OPTIONS}`,
        explicit_http_config: { http_protocol_options: {} },
      });
      options.common_http_protocol_options = { idle_timeout: proto(v.idleTimeout), max_stream_duration: proto(v.maxStreamDuration), max_connection_duration: proto(v.maxConnectionDuration) };
    }, shared);
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
    }, shared);
  }
  if (isHttp(protocol)) {
    edits.edit(TYPE_URLS.route, outboundRouteName(service), (route) => {
      for (const action of routeActions(route)) {
        action.timeout = proto(v.requestTimeout);
        action.idle_timeout = proto(v.streamIdleTimeout);
      }
    }, shared);
  }
}

/** Inbounds: only what the policy sets changes (the rest keeps Skiff's inbound defaults). */
function inbound(edits: Edits, proxy: ProxyContext, conf: TimeoutConf): void {
  const http = conf.http ?? {};
  for (const i of proxy.dataplane.dataplane.inbound) {
    const name = inboundListenerName(i.address, i.port);
    // The inbound listener is this proxy's own (its address): edited along the path, not copied whole.
    edits.replace(TYPE_URLS.listener, name, (listener) => {
      const withHcm = withFilterConfig(listener, HCM, (hcm) => {
        const common = { ...hcm.common_http_protocol_options };
        if (conf.idleTimeout) common.idle_timeout = proto(conf.idleTimeout);
        if (http.maxStreamDuration) common.max_stream_duration = proto(http.maxStreamDuration);
        if (http.maxConnectionDuration) common.max_connection_duration = proto(http.maxConnectionDuration);
        hcm.common_http_protocol_options = common;
        if (http.streamIdleTimeout) hcm.stream_idle_timeout = proto(http.streamIdleTimeout);
        if (http.requestHeadersTimeout) hcm.request_headers_timeout = proto(http.requestHeadersTimeout);
      });
      const idle = conf.idleTimeout;
      return idle ? withFilterConfig(withHcm, TCP_PROXY, (tcp) => (tcp.idle_timeout = proto(idle))) : withHcm;
    });
    if (http.requestTimeout) edits.edit(TYPE_URLS.route, name, (route) => routeActions(route).forEach((a) => (a.timeout = proto(http.requestTimeout!))));
    // The local cluster is shared by proxies with the same local address: so is its edit.
    if (conf.connectionTimeout) edits.edit(TYPE_URLS.cluster, localClusterName(i.servicePort), (c) => (c.connect_timeout = proto(conf.connectionTimeout!)), `MeshTimeout inbound ${conf.connectionTimeout}`);
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
export function applyMeshTimeouts(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshTimeout');
  if (policies.length === 0) return;
  const { name, dataplane } = proxy.dataplane;
  if (proxy.proxyless) {
    for (const service of mesh.endpoints.keys()) {
      const conf = outboundConf<TimeoutConf>(policies, name, dataplane, service);
      if (conf) proxyless(edits, service, conf);
    }
    return;
  }
  for (const service of outboundServices(proxy, mesh)) {
    const conf = outboundConf<TimeoutConf>(policies, name, dataplane, service);
    if (conf) outbound(edits, proxy, mesh, service, conf);
  }
  const fromConf = inboundConf<TimeoutConf>(policies, name, dataplane);
  if (fromConf) inbound(edits, proxy, fromConf);
  return;
}

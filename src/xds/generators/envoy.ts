import { ANY_TYPES } from '../resources.js';
import type { Protocol } from '../../core/mesh-snapshot.js';

/** Small builders for the Envoy shapes every generator uses, so each stays about its own concern. */

export const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;

export function socketAddress(address: string, port: number) {
  return { socket_address: { address, port_value: port } };
}

export const isHttp = (protocol: Protocol): boolean => protocol !== 'tcp';
export const isHttp2 = (protocol: Protocol): boolean => protocol === 'http2' || protocol === 'grpc';

/** Upstream HTTP/2 (needed for gRPC and h2 services), via the typed protocol options extension. */
export function http2UpstreamOptions() {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': ANY_TYPES.httpProtocolOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
}

/** A weighted destination: a cluster name and its share. */
export interface WeightedCluster {
  cluster: string;
  weight: number;
}

/** TCP proxy to one cluster, or split by weight across several (TrafficRoute on a TCP service). */
export function tcpProxyFilter(statPrefix: string, target: string | readonly WeightedCluster[], accessLog: readonly unknown[] = []) {
  const destination =
    typeof target === 'string' || target.length === 1
      ? { cluster: typeof target === 'string' ? target : target[0]!.cluster }
      : { weighted_clusters: { clusters: target.map((t) => ({ name: t.cluster, weight: t.weight })) } };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': ANY_TYPES.tcpProxy, stat_prefix: statPrefix, ...destination, ...(accessLog.length ? { access_log: accessLog } : {}) } };
}

/** A route configuration sending everything to one cluster, or split by weight across several. */
export function weightedRoute(name: string, virtualHost: string, targets: readonly WeightedCluster[], prefix: '/' | '') {
  if (targets.length === 1) return singleClusterRoute(name, virtualHost, targets[0]!.cluster, prefix);
  return {
    name,
    virtual_hosts: [
      {
        name: virtualHost,
        domains: ['*'],
        routes: [{ match: { prefix }, route: { weighted_clusters: { clusters: targets.map((t) => ({ name: t.cluster, weight: { value: t.weight } })) } } }],
      },
    ],
  };
}

/** What a sidecar's HTTP connection manager adds to the bare one (proxyless clients get none of it). */
export interface HcmOptions {
  /** Kuma's gRPC stats filter, for gRPC services: per-method request and message counters. */
  grpcStats?: boolean;
  /** Outbounds: normalise the path (RFC 3986) before routing, as Kuma does. */
  normalizePath?: boolean;
  /** mTLS inbounds: replace any `x-forwarded-client-cert` with the verified caller's URI (its SPIFFE ID). */
  forwardClientCert?: boolean;
}

export function httpConnectionManager(statPrefix: string, routeConfigName: string, accessLog: readonly unknown[] = [], options: HcmOptions = {}) {
  return {
    '@type': ANY_TYPES.hcm,
    stat_prefix: statPrefix,
    ...(accessLog.length ? { access_log: accessLog } : {}),
    codec_type: 'AUTO',
    rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeConfigName },
    ...(options.normalizePath ? { normalize_path: { value: true } } : {}),
    ...(options.forwardClientCert ? { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { uri: true } } : {}),
    http_filters: [
      ...(options.grpcStats ? [{ name: 'envoy.filters.http.grpc_stats', typed_config: { '@type': ANY_TYPES.grpcStats, emit_filter_state: true, stats_for_all_methods: { value: true } } }] : []),
      { name: 'envoy.filters.http.router', typed_config: { '@type': ANY_TYPES.router } },
    ],
  };
}

export function hcmFilter(statPrefix: string, routeConfigName: string, accessLog: readonly unknown[] = [], options: HcmOptions = {}) {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: httpConnectionManager(statPrefix, routeConfigName, accessLog, options) };
}

/** A route configuration sending everything to one cluster. `prefix` is '/' for Envoy, '' for gRPC clients. */
export function singleClusterRoute(name: string, virtualHost: string, cluster: string, prefix: '/' | '') {
  return {
    name,
    virtual_hosts: [{ name: virtualHost, domains: ['*'], routes: [{ match: { prefix }, route: { cluster } }] }],
  };
}

/** Envoy stat prefixes may not contain ':' usefully; Kuma replaces separators with '_'. */
export const statPrefix = (name: string): string => name.replace(/[^a-zA-Z0-9_-]/g, '_');

/** SDS secret names, as Kuma 2.x names them. */
export const identitySecretName = (mesh: string) => `identity_cert:secret:${mesh}`;
export const meshCaSecretName = (mesh: string) => `mesh_ca:secret:${mesh}`;

const sdsSecret = (name: string) => ({ name, sds_config: ADS_CONFIG_SOURCE });

/** What a proxy presents and trusts inside a mesh: its identity and the mesh CA, both over SDS. */
function meshTlsContext(mesh: string, sanMatchers: unknown[]) {
  return {
    tls_certificate_sds_secret_configs: [sdsSecret(identitySecretName(mesh))],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: sanMatchers },
      validation_context_sds_secret_config: sdsSecret(meshCaSecretName(mesh)),
    },
  };
}

/** Inbound mTLS: a client certificate is required and must carry a SPIFFE ID of this mesh. */
export function downstreamMtls(mesh: string) {
  // One object per mesh, in every inbound listener of it: the encoder converts its Any once (protos.ts).
  let socket = downstreamSockets.get(mesh);
  if (!socket) {
    if (downstreamSockets.size >= 1024) downstreamSockets.clear();
    socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        require_client_certificate: { value: true },
        common_tls_context: meshTlsContext(mesh, [{ san_type: 'URI', matcher: { prefix: `spiffe://${mesh}/` } }]),
      },
    };
    downstreamSockets.set(mesh, socket);
  }
  return socket;
}
const downstreamSockets = new Map<string, { name: string; typed_config: Record<string, unknown> }>();

/**
 * The certificate provider instance a proxyless gRPC client's bootstrap must define
 * (`certificate_providers`, plugin `file_watcher`) with its mesh certificate, key and CA bundle.
 * gRPC's xDS security takes certificates only from such instances, never over SDS.
 */
export const PROXYLESS_CERTIFICATE_PROVIDER = 'kuma';

/**
 * Outbound mTLS for a proxyless gRPC client (gRPC A29, xDS security): identity and trust from the
 * client's own certificate provider instance; the server must be `spiffe://{mesh}/{service}`.
 * grpc-js-xds refuses SDS secret configs, `tls_params` and typed SAN matchers, so this uses what
 * it accepts: provider instances and `match_subject_alt_names`.
 */
export function proxylessUpstreamMtls(mesh: string, service: string) {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: PROXYLESS_CERTIFICATE_PROVIDER },
        validation_context: {
          ca_certificate_provider_instance: { instance_name: PROXYLESS_CERTIFICATE_PROVIDER },
          match_subject_alt_names: [{ exact: `spiffe://${mesh}/${service}` }],
        },
      },
    },
  };
}

/** Outbound mTLS: present our identity; the server must be `spiffe://{mesh}/{service}`. */
export function upstreamMtls(mesh: string, service: string) {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: service,
      common_tls_context: meshTlsContext(mesh, [{ san_type: 'URI', matcher: { exact: `spiffe://${mesh}/${service}` } }]),
    },
  };
}

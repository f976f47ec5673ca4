import { isIP } from 'node:net';
import { ADS_CONFIG_SOURCE, http2UpstreamOptions, socketAddress } from './envoy.js';

export const ADS_CLUSTER = 'ads_cluster';

export interface BootstrapParams {
  /** `{mesh}.{name}` */
  nodeId: string;
  /** Envoy's `node.cluster`: the dataplane's (first) service. */
  service: string;
  adminAddress: string;
  adminPort: number;
  adminAccessLogPath: string;
  xdsHost: string;
  xdsPort: number;
  /**
   * Further control planes to reach the same store through (the other live instances): the ADS
   * cluster lists them after (xdsHost, xdsPort), so Envoy reconnects to another when one goes away.
   */
  moreXdsAddresses?: ReadonlyArray<{ host: string; port: number }>;
  xdsConnectTimeoutMs: number;
  /** The dataplane token, sent as `authorization` on the ADS stream; absent when authentication is off. */
  token?: string;
  /** PEM of the CA that signed the control plane's xDS certificate; absent when xDS is plaintext. */
  caPem?: string;
  /** Extra `node.metadata` string entries (Kuma's `dataplane.*` keys). */
  metadata: Record<string, string>;
}

/** `[::1]` names the IPv6 address `::1`; a host is an IP only if the platform's parser says so. */
function hostAddress(host: string): { address: string; ip: boolean } {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare) ? { address: bare, ip: true } : { address: host, ip: false };
}

/** A Duration in canonical proto3 JSON (`"1s"`, `"0.250s"`), as Envoy's YAML expects. */
export function durationJson(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3)}s`;
}

/**
 * The Envoy v3 bootstrap a sidecar starts from: its node identity, the admin interface, one static
 * cluster to the control plane (HTTP/2, TLS verified against the control plane's CA when xDS uses
 * TLS) and everything else over ADS, with the dataplane token on the ADS stream's metadata (never
 * in node metadata, which Envoy shows on its admin page). A pure function, golden-testable.
 */
export function envoyBootstrap(p: BootstrapParams): Record<string, unknown> {
  const grpcService: Record<string, unknown> = { envoy_grpc: { cluster_name: ADS_CLUSTER } };
  if (p.token) grpcService.initial_metadata = [{ key: 'authorization', value: p.token }];
  const xds = hostAddress(p.xdsHost);
  const seen = new Set<string>();
  const targets = [{ ...xds, port: p.xdsPort }, ...(p.moreXdsAddresses ?? []).map((a) => ({ ...hostAddress(a.host), port: a.port }))].filter((t) => {
    const key = `${t.address}|${t.port}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  const cluster: Record<string, unknown> = {
    name: ADS_CLUSTER,
    type: targets.every((t) => t.ip) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: durationJson(p.xdsConnectTimeoutMs),
    load_assignment: { cluster_name: ADS_CLUSTER, endpoints: [{ lb_endpoints: targets.map((t) => ({ endpoint: { address: socketAddress(t.address, t.port) } })) }] },
    typed_extension_protocol_options: http2UpstreamOptions(),
  };
  // Several hosts: Envoy's round robin gives each reconnection of the ADS stream the next one, so
  // a dead instance costs one failed attempt before the proxy is on a live one.
  const sans = [...new Map(targets.map((t) => [t.address, t])).values()];
  if (p.caPem) {
    // As Kuma's bootstrap: the control plane's certificate must be the CA's *and* name the host
    // the proxy dialled (a DNS or IP SAN), over TLS 1.2 or later.
    cluster.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        ...(xds.ip ? {} : { sni: xds.address }),
        common_tls_context: {
          tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
          validation_context: {
            trusted_ca: { inline_string: p.caPem },
            // Any of the instances' names (Envoy accepts the certificate if one matches).
            match_typed_subject_alt_names: sans.map((t) => ({ san_type: t.ip ? 'IP_ADDRESS' : 'DNS', matcher: { exact: t.address } })),
          },
        },
      },
    };
  }
  return {
    node: {
      id: p.nodeId,
      cluster: p.service,
      metadata: p.metadata,
    },
    admin: {
      address: socketAddress(p.adminAddress, p.adminPort),
      access_log: [
        {
          name: 'envoy.access_loggers.file',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: p.adminAccessLogPath },
        },
      ],
    },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [grpcService], set_node_on_first_message_only: true },
      cds_config: ADS_CONFIG_SOURCE,
      lds_config: ADS_CONFIG_SOURCE,
    },
    static_resources: { clusters: [cluster] },
  };
}

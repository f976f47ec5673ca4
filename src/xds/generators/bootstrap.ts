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
  xdsConnectTimeoutMs: number;
  /** The dataplane token, sent as `authorization` on the ADS stream; absent when authentication is off. */
  token?: string;
  /** PEM of the CA that signed the control plane's xDS certificate; absent when xDS is plaintext. */
  caPem?: string;
  /** Extra `node.metadata` string entries (Kuma's `dataplane.*` keys). */
  metadata: Record<string, string>;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)$/;

/**
 * The Envoy v3 bootstrap a sidecar starts from: its node identity, the admin interface, one static
 * cluster to the control plane (HTTP/2, TLS verified against the control plane's CA when xDS uses
 * TLS) and everything else over ADS, with the dataplane token on the ADS stream's metadata (never
 * in node metadata, which Envoy shows on its admin page). A pure function, golden-testable.
 */
export function envoyBootstrap(p: BootstrapParams): Record<string, unknown> {
  const grpcService: Record<string, unknown> = { envoy_grpc: { cluster_name: ADS_CLUSTER } };
  if (p.token) grpcService.initial_metadata = [{ key: 'authorization', value: p.token }];
  const cluster: Record<string, unknown> = {
    name: ADS_CLUSTER,
    type: IP.test(p.xdsHost) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: { seconds: Math.floor(p.xdsConnectTimeoutMs / 1000), nanos: (p.xdsConnectTimeoutMs % 1000) * 1e6 },
    load_assignment: { cluster_name: ADS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(p.xdsHost, p.xdsPort) } }] }] },
    typed_extension_protocol_options: http2UpstreamOptions(),
  };
  if (p.caPem) {
    cluster.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: p.xdsHost,
        common_tls_context: { validation_context: { trusted_ca: { inline_string: p.caPem } } },
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

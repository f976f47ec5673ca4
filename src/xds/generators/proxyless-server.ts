import { TYPE_URLS } from '../resources.js';
import { PROXYLESS_CERTIFICATE_PROVIDER, socketAddress } from './envoy.js';
import { permittedPolicies } from './permissions.js';
import type { GeneratedResource, Generator } from './types.js';

/**
 * The `server_listener_resource_name_template` a proxyless gRPC server's bootstrap must carry (the
 * form gRPC's A36 proposal uses): an xDS server listening on `host:port` asks for the Listener
 * named with `%s` replaced by exactly that string.
 */
export const PROXYLESS_SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';
export const proxylessServerListenerName = (hostPort: string) => PROXYLESS_SERVER_LISTENER_TEMPLATE.replace('%s', hostPort);

/** Where a server of this inbound may listen: any address, or the inbound's own. */
const listeningHosts = (address: string) => [...new Set(['0.0.0.0', '::', address])];
const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
/** The Listener names a proxyless server of this inbound may ask for. */
export const proxylessServerListenerNames = (inbound: { address: string; port: number }) => listeningHosts(inbound.address).map((h) => proxylessServerListenerName(hostPort(h, inbound.port)));

/**
 * Server side of proxyless gRPC (gRPC A36, grpc-js-xds's XdsServer): per inbound of the proxyless
 * dataplane, the Listener its server asks for, for each address it may bind (the Listener's address
 * must be the one bound). With mesh mTLS: the server's identity and trust come from the bootstrap's
 * certificate provider (as on the client side), a client certificate is required, and
 * TrafficPermission is an HTTP RBAC filter that is *not* optional: a gRPC library without RBAC
 * (grpc-js-xds unless GRPC_XDS_EXPERIMENTAL_RBAC=true) must reject the Listener and not serve,
 * rather than serve every identity of the mesh. Only the names the server subscribes to are sent.
 */
export const proxylessServerGenerator: Generator = {
  name: 'proxyless-server',
  generate(proxy, mesh) {
    if (!proxy.proxyless) return [];
    const out: GeneratedResource[] = [];
    for (const inbound of proxy.dataplane.dataplane.inbound) {
      const routeConfig = {
        name: `inbound:${inbound.service}`,
        virtual_hosts: [{ name: inbound.service, domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }],
      };
      const httpFilters = [
        ...(mesh.mtls
          ? [{ name: 'envoy.filters.http.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: { action: 'ALLOW', policies: permittedPolicies(mesh, inbound.tags) } } }]
          : []),
        { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
      ];
      const hcm = {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: `inbound_${inbound.port}`,
          route_config: routeConfig,
          http_filters: httpFilters,
        },
      };
      const transportSocket = mesh.mtls
        ? {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
              require_client_certificate: { value: true },
              common_tls_context: {
                tls_certificate_provider_instance: { instance_name: PROXYLESS_CERTIFICATE_PROVIDER },
                validation_context: { ca_certificate_provider_instance: { instance_name: PROXYLESS_CERTIFICATE_PROVIDER } },
              },
            },
          }
        : undefined;
      for (const host of listeningHosts(inbound.address)) {
        const name = proxylessServerListenerName(hostPort(host, inbound.port));
        out.push({
          typeUrl: TYPE_URLS.listener,
          name,
          resource: {
            name,
            address: socketAddress(host, inbound.port),
            filter_chains: [{ name: `inbound:${inbound.port}`, filters: [hcm], ...(transportSocket ? { transport_socket: transportSocket } : {}) }],
          },
        });
      }
    }
    return out;
  },
};

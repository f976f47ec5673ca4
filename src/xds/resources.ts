/** xDS v3 type URLs served by Skiff, as literal types. */
export const TYPE_URLS = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeUrl = (typeof TYPE_URLS)[keyof typeof TYPE_URLS];

/**
 * The order in which changed types are pushed (Envoy's xds_protocol, "eventual consistency
 * considerations"): clusters before the endpoints they reference, listeners before the routes they
 * reference, so Envoy never warms a resource that names something it has not been given.
 * Secrets go first because clusters and listeners reference them.
 */
export const PUSH_ORDER: readonly TypeUrl[] = [TYPE_URLS.secret, TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route];

/** Types whose empty `resource_names` means "everything" (wildcard) for Envoy. */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.listener, TYPE_URLS.cluster]);

export const SHORT_NAMES: Record<TypeUrl, 'cds' | 'eds' | 'lds' | 'rds' | 'sds'> = {
  [TYPE_URLS.cluster]: 'cds',
  [TYPE_URLS.endpoint]: 'eds',
  [TYPE_URLS.listener]: 'lds',
  [TYPE_URLS.route]: 'rds',
  [TYPE_URLS.secret]: 'sds',
};

export const isTypeUrl = (value: string): value is TypeUrl => value in SHORT_NAMES;

/** Typed `Any` payloads used inside resources. */
export const ANY_TYPES = {
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  grpcStats: 'type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

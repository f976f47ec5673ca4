import { createHash } from 'node:crypto';
import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import type { Tags } from '../../core/tags.js';
import { TYPE_URLS } from '../resources.js';
import { http2UpstreamOptions } from './envoy.js';
import type { GeneratedResource } from './types.js';

type Obj = Record<string, unknown>;

/** Kuma's default access log format for TCP traffic (its response flags, mesh and both services). */
export const DEFAULT_TCP_LOG_FORMAT =
  '[%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->%UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes';

/** Kuma's default access log format for HTTP traffic (with the B3 or Datadog trace id). */
export const DEFAULT_HTTP_LOG_FORMAT =
  '[%START_TIME%] %KUMA_MESH% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%KUMA_SOURCE_SERVICE%" "%KUMA_DESTINATION_SERVICE%" "%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%" "%UPSTREAM_HOST%"';

/**
 * TCP backends: Envoy streams structured entries over gRPC (its access log service) to the sidecar
 * launcher (skiff-dp, as kuma-dp does), which formats them and writes lines to the backend's TCP
 * address. This cluster reaches the launcher on a Unix socket whose path both sides derive from the
 * dataplane's name and mesh, so no extra coordination is needed.
 */
export const ACCESS_LOG_SINK_CLUSTER = 'access_log_sink';
/** A Unix socket path holds at most 107 bytes (108 with its NUL); Envoy refuses a cluster with a longer one. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Kuma's `/tmp/kuma-al-{name}-{mesh}.sock` whenever it fits; otherwise (names may be 253
 * characters) the name shortened and a hash of the full name and mesh, so it still fits and still
 * names one dataplane.
 */
export function accessLogSocketPath(name: string, mesh: string): string {
  const kuma = `/tmp/kuma-al-${name}-${mesh}.sock`;
  if (Buffer.byteLength(kuma) <= MAX_SOCKET_PATH_BYTES) return kuma;
  const hash = createHash('sha256').update(`${mesh}\0${name}`).digest('hex').slice(0, 16);
  const room = MAX_SOCKET_PATH_BYTES - '/tmp/kuma-al--.sock'.length - hash.length;
  return `/tmp/kuma-al-${name.slice(0, room)}-${hash}.sock`; // names are ASCII: one byte a character
}

/**
 * The `log_name` of a gRPC access log carries the TCP address and the (placeholder-resolved) format
 * to the launcher: `{address};{format}`. An address never contains ';', so the first one splits.
 */
export const encodeLogName = (address: string, format: string): string => `${address};${format}`;
export function decodeLogName(logName: string): { address: string; format: string } | undefined {
  const at = logName.indexOf(';');
  if (at <= 0) return undefined;
  return { address: logName.slice(0, at), format: logName.slice(at + 1) };
}

interface LogBackend {
  name: string;
  format?: string;
  filePath?: string;
  tcpAddress?: string;
}

/** The Mesh's logging backends in either form: Kuma 0.3's `{name, format, file|tcp}` or `{name, type, conf}`. */
function backendsOf(meshSpec: Obj): { backends: LogBackend[]; defaultBackend?: string } {
  const logging = (meshSpec.logging ?? {}) as Obj;
  const backends = ((logging.backends as Obj[] | undefined) ?? []).map((b) => {
    const conf = (b.conf ?? {}) as Obj;
    const file = (b.file as Obj | undefined)?.path ?? (b.type === 'file' ? conf.path : undefined);
    const tcp = (b.tcp as Obj | undefined)?.address ?? (b.type === 'tcp' ? conf.address : undefined);
    return { name: String(b.name), format: typeof b.format === 'string' ? b.format : undefined, filePath: file as string | undefined, tcpAddress: tcp as string | undefined };
  });
  return { backends, defaultBackend: typeof logging.defaultBackend === 'string' ? logging.defaultBackend : undefined };
}

/** Request fields every HTTP gRPC access log entry carries; other `%REQ(…)%` headers must be asked for. */
const BUILTIN_REQUEST_HEADERS = new Set([':method', ':scheme', ':authority', ':path', 'user-agent', 'referer', 'x-forwarded-for', 'x-request-id', 'x-envoy-original-path']);

/** Header names a format reads with `%REQ(a?b)%`, `%RESP(…)%` or `%TRAILER(…)%`, lower-cased. */
function headersIn(format: string, operator: 'REQ' | 'RESP' | 'TRAILER'): string[] {
  const names = new Set<string>();
  for (const m of format.matchAll(new RegExp(`%${operator}\\(([^)]*)\\)(?::\\d+)?%`, 'g'))) {
    for (const h of m[1]!.split('?')) if (h) names.add(h.toLowerCase());
  }
  return [...names];
}

export interface AccessLog {
  /** The `access_log` entries of the outbound's TCP proxy or HTTP connection manager. */
  entries: unknown[];
  /** Whether they need the `access_log_sink` cluster (a TCP backend). */
  needsSink: boolean;
}

const NO_ACCESS_LOG: AccessLog = { entries: [], needsSink: false };

/**
 * The access log of an outbound from a proxy (its inbound tag sets, its address) to `service`: the
 * most specific TrafficLog selects a backend (`conf.backend`, else the mesh's default) and its
 * format (Kuma's default for the protocol otherwise) gets Kuma's placeholders resolved. A file
 * backend is Envoy's file logger; a TCP backend is a gRPC access log to the sidecar launcher.
 */
export function accessLogFor(mesh: MeshSnapshot, sourceTags: readonly Tags[], sourceService: string, sourceAddress: string, service: string, http: boolean): AccessLog {
  const policy = selectConnectionPolicy(mesh.trafficLogs, sourceTags, { 'kuma.io/service': service });
  if (!policy) return NO_ACCESS_LOG;
  const { backends, defaultBackend } = backendsOf(mesh.meshSpec);
  const name = policy.backend ?? defaultBackend;
  const backend = backends.find((b) => b.name === name);
  if (!backend || (!backend.filePath && !backend.tcpAddress)) return NO_ACCESS_LOG;
  const format = resolveKumaPlaceholders(backend.format ?? (http ? DEFAULT_HTTP_LOG_FORMAT : DEFAULT_TCP_LOG_FORMAT), { mesh: mesh.mesh, sourceService, destinationService: service, sourceAddress });
  return backend.filePath ? fileAccessLog(backend.filePath, { text: format }) : tcpAccessLog(backend.tcpAddress!, format, http);
}

export interface LogContext {
  mesh: string;
  sourceService: string;
  destinationService: string;
  sourceAddress: string;
}

/** Kuma's own placeholders, resolved by the control plane; Envoy's `%…%` operators stay. */
export function resolveKumaPlaceholders(format: string, ctx: LogContext): string {
  return format
    .replaceAll('%KUMA_SOURCE_SERVICE%', ctx.sourceService)
    .replaceAll('%KUMA_DESTINATION_SERVICE%', ctx.destinationService)
    .replaceAll('%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%', ctx.sourceAddress)
    .replaceAll('%KUMA_SOURCE_ADDRESS%', `${ctx.sourceAddress}:0`)
    .replaceAll('%KUMA_MESH%', ctx.mesh);
}

/** Envoy's file logger, with a text line or a JSON object per entry. */
export function fileAccessLog(path: string, format: { text: string } | { json: Record<string, string>; omitEmptyValues?: boolean }): AccessLog {
  const log_format =
    'text' in format
      ? { text_format_source: { inline_string: format.text.endsWith('\n') ? format.text : `${format.text}\n` } }
      : { json_format: { fields: Object.fromEntries(Object.entries(format.json).map(([k, v]) => [k, { string_value: v }])) }, ...(format.omitEmptyValues ? { omit_empty_values: true } : {}) };
  return { entries: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path, log_format } }], needsSink: false };
}

/** A TCP backend: a gRPC access log to the sidecar launcher, which writes the formatted lines to `address`. */
export function tcpAccessLog(address: string, format: string, http: boolean): AccessLog {
  const line = format.endsWith('\n') ? format : `${format}\n`;
  const common_config = {
    log_name: encodeLogName(address, line),
    grpc_service: { envoy_grpc: { cluster_name: ACCESS_LOG_SINK_CLUSTER } },
    transport_api_version: 'V3',
  };
  const typed_config = http
    ? {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig',
        common_config,
        additional_request_headers_to_log: headersIn(format, 'REQ').filter((h) => !BUILTIN_REQUEST_HEADERS.has(h)),
        additional_response_headers_to_log: headersIn(format, 'RESP'),
        additional_response_trailers_to_log: headersIn(format, 'TRAILER'),
      }
    : { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig', common_config };
  return { entries: [{ name: http ? 'envoy.access_loggers.http_grpc' : 'envoy.access_loggers.tcp_grpc', typed_config }], needsSink: true };
}

/** The cluster through which Envoy reaches the launcher's access log service (gRPC needs HTTP/2). */
export function accessLogSinkCluster(name: string, mesh: string): GeneratedResource {
  return {
    typeUrl: TYPE_URLS.cluster,
    name: ACCESS_LOG_SINK_CLUSTER,
    resource: {
      name: ACCESS_LOG_SINK_CLUSTER,
      type: 'STATIC',
      connect_timeout: { seconds: 1 },
      typed_extension_protocol_options: http2UpstreamOptions(),
      load_assignment: {
        cluster_name: ACCESS_LOG_SINK_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: accessLogSocketPath(name, mesh) } } } }] }],
      },
    },
  };
}

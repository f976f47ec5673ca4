/**
 * Renders Envoy access log entries (as Envoy's gRPC access log service sends them, decoded with
 * snake_case fields, longs as strings and enums as names) with an Envoy format string, the way
 * Envoy's own file logger would. Kuma's `%KUMA_*%` placeholders were already resolved by the
 * control plane. Operators the entry cannot answer render as `-`, Envoy's "not available".
 */

type Obj = Record<string, any>;

export type EntryKind = 'tcp' | 'http';

type Part = string | ((entry: Obj, kind: EntryKind) => string);

export interface CompiledFormat {
  render(entry: Obj, kind: EntryKind): string;
  /** Operators this formatter does not know (rendered as `-`). */
  unknown: string[];
}

const NA = '-';

function durationMs(d: Obj | undefined): number | undefined {
  if (!d) return undefined;
  return Math.floor(Number(d.seconds ?? 0) * 1000 + Number(d.nanos ?? 0) / 1e6);
}

function address(a: Obj | undefined, withPort: boolean): string {
  if (a?.socket_address) {
    const { address: host, port_value } = a.socket_address;
    if (!withPort) return host;
    return String(host).includes(':') ? `[${host}]:${port_value ?? 0}` : `${host}:${port_value ?? 0}`;
  }
  if (a?.pipe) return a.pipe.path;
  return NA;
}

const orNA = (v: unknown): string => (v === undefined || v === null || v === '' ? NA : String(v));

/** Envoy's short response flag codes, in the order Envoy prints them. */
const RESPONSE_FLAGS: ReadonlyArray<[string, string]> = [
  ['failed_local_healthcheck', 'LH'], ['no_healthy_upstream', 'UH'], ['upstream_request_timeout', 'UT'], ['local_reset', 'LR'],
  ['upstream_remote_reset', 'UR'], ['upstream_connection_failure', 'UF'], ['upstream_connection_termination', 'UC'],
  ['upstream_overflow', 'UO'], ['no_route_found', 'NR'], ['delay_injected', 'DI'], ['fault_injected', 'FI'], ['rate_limited', 'RL'],
  ['unauthorized_details', 'UAEX'], ['rate_limit_service_error', 'RLSE'], ['downstream_connection_termination', 'DC'],
  ['upstream_retry_limit_exceeded', 'URX'], ['stream_idle_timeout', 'SI'], ['invalid_envoy_request_headers', 'IH'],
  ['downstream_protocol_error', 'DPE'], ['upstream_max_stream_duration_reached', 'UMSDR'], ['response_from_cache_filter', 'RFCF'],
  ['no_filter_config_found', 'NFCF'], ['duration_timeout', 'DT'], ['upstream_protocol_error', 'UPE'], ['no_cluster_found', 'NC'],
  ['overload_manager', 'OM'], ['dns_resolution_failure', 'DF'], ['downstream_remote_reset', 'DR'],
];

const PROTOCOLS: Record<string, string> = { HTTP10: 'HTTP/1.0', HTTP11: 'HTTP/1.1', HTTP2: 'HTTP/2', HTTP3: 'HTTP/3' };

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Envoy's START_TIME: `%Y-%m-%dT%H:%M:%E3SZ` by default, or a strftime-style argument (UTC). */
function formatTime(ts: Obj | undefined, pattern: string | undefined): string {
  if (!ts) return NA;
  const nanos = Number(ts.nanos ?? 0);
  const date = new Date(Number(ts.seconds ?? 0) * 1000 + Math.floor(nanos / 1e6));
  if (!pattern) return date.toISOString();
  const fraction = (digits: number) => String(nanos).padStart(9, '0').slice(0, digits);
  return pattern.replace(/%(E(\d)S|(\d)f|[YmdHMSszZ%])/g, (_m, spec: string, eDigits?: string, fDigits?: string) => {
    if (eDigits) return `${pad(date.getUTCSeconds())}.${fraction(Number(eDigits))}`;
    if (fDigits) return fraction(Number(fDigits));
    switch (spec) {
      case 'Y': return String(date.getUTCFullYear());
      case 'm': return pad(date.getUTCMonth() + 1);
      case 'd': return pad(date.getUTCDate());
      case 'H': return pad(date.getUTCHours());
      case 'M': return pad(date.getUTCMinutes());
      case 'S': return pad(date.getUTCSeconds());
      case 's': return String(Math.floor(date.getTime() / 1000));
      case 'z': return '+0000';
      case 'Z': return 'UTC';
      default: return '%';
    }
  });
}

/** The value of a request header, from the entry's dedicated fields or its extra headers. */
function requestHeader(entry: Obj, name: string): string | undefined {
  const req = entry.request as Obj | undefined;
  if (!req) return undefined;
  switch (name) {
    case ':method': return req.request_method && req.request_method !== 'METHOD_UNSPECIFIED' ? req.request_method : undefined;
    case ':scheme': return req.scheme;
    case ':authority': return req.authority;
    case ':path': return req.path;
    case 'user-agent': return req.user_agent;
    case 'referer': return req.referer;
    case 'x-forwarded-for': return req.forwarded_for;
    case 'x-request-id': return req.request_id;
    case 'x-envoy-original-path': return req.original_path;
    default: return req.request_headers?.[name];
  }
}

/** `%REQ(a?b):n%`: the first header present, truncated to n characters. */
function headerOperator(arg: string, max: number | undefined, read: (entry: Obj, name: string) => string | undefined): Part {
  const names = arg.split('?').map((h) => h.toLowerCase());
  return (entry) => {
    for (const name of names) {
      const value = read(entry, name);
      if (value !== undefined && value !== '') return max === undefined ? value : value.slice(0, max);
    }
    return NA;
  };
}

function operator(name: string, arg: string | undefined, max: number | undefined): Part | undefined {
  const common = (e: Obj): Obj => e.common_properties ?? {};
  switch (name) {
    case 'REQ': return arg === undefined ? undefined : headerOperator(arg, max, requestHeader);
    case 'RESP': return arg === undefined ? undefined : headerOperator(arg, max, (e, h) => e.response?.response_headers?.[h]);
    case 'TRAILER': return arg === undefined ? undefined : headerOperator(arg, max, (e, h) => e.response?.response_trailers?.[h]);
    case 'START_TIME': return (e) => formatTime(common(e).start_time, arg);
    case 'DURATION': return (e) => orNA(durationMs(common(e).duration) ?? durationMs(common(e).time_to_last_downstream_tx_byte));
    case 'REQUEST_DURATION': return (e) => orNA(durationMs(common(e).time_to_last_rx_byte));
    case 'RESPONSE_DURATION': return (e) => orNA(durationMs(common(e).time_to_first_upstream_rx_byte));
    case 'RESPONSE_TX_DURATION':
      return (e) => {
        const last = durationMs(common(e).time_to_last_downstream_tx_byte);
        const first = durationMs(common(e).time_to_first_upstream_rx_byte);
        return last === undefined || first === undefined ? NA : String(last - first);
      };
    case 'BYTES_RECEIVED': return (e, kind) => String((kind === 'tcp' ? e.connection_properties?.received_bytes : e.request?.request_body_bytes) ?? 0);
    case 'BYTES_SENT': return (e, kind) => String((kind === 'tcp' ? e.connection_properties?.sent_bytes : e.response?.response_body_bytes) ?? 0);
    case 'RESPONSE_CODE': return (e, kind) => (kind === 'tcp' ? '0' : String(e.response?.response_code?.value ?? 0));
    case 'RESPONSE_CODE_DETAILS': return (e) => orNA(e.response?.response_code_details);
    case 'PROTOCOL': return (e, kind) => (kind === 'tcp' ? NA : (PROTOCOLS[e.protocol_version as string] ?? NA));
    case 'RESPONSE_FLAGS':
      return (e) => {
        const flags = common(e).response_flags as Obj | undefined;
        const set = flags ? RESPONSE_FLAGS.filter(([field]) => flags[field] === true || (field === 'unauthorized_details' && flags[field])).map(([, code]) => code) : [];
        return set.length ? set.join(',') : NA;
      };
    case 'UPSTREAM_HOST': return (e) => address(common(e).upstream_remote_address, true);
    case 'UPSTREAM_CLUSTER': return (e) => orNA(common(e).upstream_cluster);
    case 'UPSTREAM_LOCAL_ADDRESS': return (e) => address(common(e).upstream_local_address, true);
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON': return (e) => orNA(common(e).upstream_transport_failure_reason);
    case 'UPSTREAM_REQUEST_ATTEMPT_COUNT': return (e) => String(common(e).upstream_request_attempt_count ?? 0);
    case 'DOWNSTREAM_REMOTE_ADDRESS': return (e) => address(common(e).downstream_remote_address, true);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT': return (e) => address(common(e).downstream_remote_address, false);
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS': return (e) => address(common(e).downstream_direct_remote_address, true);
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT': return (e) => address(common(e).downstream_direct_remote_address, false);
    case 'DOWNSTREAM_LOCAL_ADDRESS': return (e) => address(common(e).downstream_local_address, true);
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT': return (e) => address(common(e).downstream_local_address, false);
    case 'DOWNSTREAM_TRANSPORT_FAILURE_REASON': return (e) => orNA(common(e).downstream_transport_failure_reason);
    case 'ROUTE_NAME': return (e) => orNA(common(e).route_name);
    case 'REQUESTED_SERVER_NAME': return (e) => orNA(common(e).tls_properties?.tls_sni_hostname);
    case 'CONNECTION_TERMINATION_DETAILS': return (e) => orNA(common(e).connection_termination_details);
    case 'STREAM_ID': return (e) => orNA(common(e).stream_id);
    case 'DOWNSTREAM_PEER_URI_SAN': return (e) => orNA(common(e).tls_properties?.peer_certificate_properties?.subject_alt_name?.map((s: Obj) => s.uri).filter(Boolean).join(','));
    case 'DOWNSTREAM_LOCAL_URI_SAN': return (e) => orNA(common(e).tls_properties?.local_certificate_properties?.subject_alt_name?.map((s: Obj) => s.uri).filter(Boolean).join(','));
    default: return undefined;
  }
}

/** `%NAME%`, `%NAME(arg)%` or `%NAME(arg):max%`. */
const OPERATOR = /%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::(\d+))?%/g;

export function compileFormat(format: string): CompiledFormat {
  const parts: Part[] = [];
  const unknown: string[] = [];
  let last = 0;
  for (const m of format.matchAll(OPERATOR)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    const part = operator(m[1]!, m[2], m[3] === undefined ? undefined : Number(m[3]));
    if (part) parts.push(part);
    else {
      unknown.push(m[1]!);
      parts.push(NA);
    }
    last = m.index + m[0].length;
  }
  if (last < format.length) parts.push(format.slice(last));
  return {
    unknown,
    render(entry, kind) {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : part(entry, kind);
      return out;
    },
  };
}

import { parseDuration } from '../../core/duration.js';
import type { Causes, Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { duration, int, list, obj, oneOf, str, type ObjectField } from '../schema.js';

/** MeshRetry (Kuma 2.x): its schema and validation, as Kuma's `meshretry/api/v1alpha1` states them. */
export interface BackOff {
  baseInterval?: string;
  maxInterval?: string;
}
export interface RateLimitedBackOff {
  resetHeaders?: Array<{ name: string; format: 'Seconds' | 'UnixTimestamp' }>;
  maxInterval?: string;
}
export interface HeaderMatch {
  type?: 'Exact' | 'Prefix' | 'RegularExpression' | 'Present' | 'Absent';
  name: string;
  value?: string;
}
export interface RetryConf {
  tcp?: { maxConnectAttempt?: number };
  http?: {
    numRetries?: number;
    perTryTimeout?: string;
    backOff?: BackOff;
    rateLimitedBackOff?: RateLimitedBackOff;
    retryOn?: string[];
    retriableResponseHeaders?: HeaderMatch[];
    retriableRequestHeaders?: HeaderMatch[];
    hostSelection?: Array<{ predicate: 'OmitPreviousHosts' | 'OmitHostsWithTags' | 'OmitPreviousPriorities'; tags?: Record<string, string>; updateFrequency?: number }>;
    hostSelectionMaxAttempts?: number;
  };
  grpc?: { numRetries?: number; perTryTimeout?: string; backOff?: BackOff; rateLimitedBackOff?: RateLimitedBackOff; retryOn?: string[] };
}

/** Kuma's HTTP retryOn values and what Envoy calls them; a status code (e.g. "503") is allowed too. */
export const HTTP_RETRY_ON: Readonly<Record<string, string>> = {
  '5xx': '5xx',
  GatewayError: 'gateway-error',
  Reset: 'reset',
  Retriable4xx: 'retriable-4xx',
  ConnectFailure: 'connect-failure',
  EnvoyRatelimited: 'envoy-ratelimited',
  RefusedStream: 'refused-stream',
  Http3PostConnectFailure: 'http3-post-connect-failure',
};
export const HTTP_METHODS = ['Connect', 'Delete', 'Get', 'Head', 'Options', 'Patch', 'Post', 'Put', 'Trace'];
export const GRPC_RETRY_ON: Readonly<Record<string, string>> = {
  Canceled: 'cancelled',
  DeadlineExceeded: 'deadline-exceeded',
  Internal: 'internal',
  ResourceExhausted: 'resource-exhausted',
  Unavailable: 'unavailable',
};

export const headerMatch = obj({ type: oneOf('Exact', 'Prefix', 'RegularExpression', 'Present', 'Absent'), name: str(), value: str(false) }, { required: ['name'] });
const backOff = obj({ baseInterval: duration(true), maxInterval: duration(true) }, { atLeastOne: true });
const rateLimitedBackOff = obj({ resetHeaders: list(obj({ name: str(), format: oneOf('Seconds', 'UnixTimestamp') }, { required: ['name', 'format'] })), maxInterval: duration(true) });
const HTTP = obj(
  {
    numRetries: int(0),
    perTryTimeout: duration(),
    backOff,
    rateLimitedBackOff,
    retryOn: list(str()),
    retriableResponseHeaders: list(headerMatch),
    retriableRequestHeaders: list(headerMatch),
    hostSelection: list(obj({ predicate: oneOf('OmitPreviousHosts', 'OmitHostsWithTags', 'OmitPreviousPriorities'), tags: { kind: 'map' }, updateFrequency: int(0) }, { required: ['predicate'] })),
    hostSelectionMaxAttempts: int(0),
  },
  { atLeastOne: true },
);
const GRPC = obj({ numRetries: int(0), perTryTimeout: duration(), backOff, rateLimitedBackOff, retryOn: list(oneOf(...Object.keys(GRPC_RETRY_ON))) }, { atLeastOne: true });
const CONF: ObjectField = obj({ tcp: obj({ maxConnectAttempt: int(1) }, { required: ['maxConnectAttempt'] }), http: HTTP, grpc: GRPC });

const isStatusCode = (value: string) => /^[1-5][0-9]{2}$/.test(value);

function checkConf(conf: Obj, path: string, causes: Causes): void {
  const http = conf.http as RetryConf['http'];
  http?.retryOn?.forEach((item, i) => {
    if (!(item in HTTP_RETRY_ON) && !isStatusCode(item) && !HTTP_METHODS.some((m) => item === `HttpMethod${m}`)) causes.add(`${path}.http.retryOn[${i}]`, `unknown item '${item}'`);
  });
  for (const section of ['http', 'grpc'] as const) {
    const b = (conf[section] as { backOff?: BackOff } | undefined)?.backOff;
    if (b?.baseInterval && b.maxInterval && durationMs(b.maxInterval) < durationMs(b.baseInterval)) causes.add(`${path}.${section}.backOff.maxInterval`, 'must be greater than or equal to baseInterval');
  }
}

const durationMs = (text: string) => parseDuration(text) ?? 0;

export const MESH_RETRY: PolicyDefinition = {
  name: 'MeshRetry',
  plural: 'meshretries',
  to: ['Mesh', 'MeshService'],
  conf: CONF,
  emptyConf: "at least one of the 'tcp', 'http', 'grpc' must be specified",
  checkConf,
};

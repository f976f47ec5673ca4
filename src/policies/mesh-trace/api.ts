import type { Causes } from '../../core/validate.js';
import { hostPort } from '../mesh-access-log/api.js';
import type { PolicyDefinition } from '../policy.js';
import { bool, decimal, list, obj, oneOf, str } from '../schema.js';

/** MeshTrace (Kuma 2.x): one tracing backend for a sidecar's HTTP traffic, sampling and custom tags. */
export interface TraceConf {
  backends?: Array<{
    type: 'Zipkin' | 'Datadog' | 'OpenTelemetry';
    zipkin?: { url: string; traceId128bit?: boolean; apiVersion?: 'httpJson' | 'httpProto'; sharedSpanContext?: boolean };
    datadog?: { url: string; splitService?: boolean };
    openTelemetry?: { endpoint: string };
  }>;
  sampling?: { overall?: number | string; client?: number | string; random?: number | string };
  tags?: Array<{ name: string; literal?: string; header?: { name: string; default?: string } }>;
}

const percent = decimal(0, 100);

/** An http(s) URL with a host; the port defaults by scheme. */
export function collectorUrl(text: string): { host: string; port: number; path: string; tls: boolean } | undefined {
  try {
    const url = new URL(text);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return undefined;
    const tls = url.protocol === 'https:';
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : tls ? 443 : 80, path: url.pathname || '/', tls };
  } catch {
    return undefined;
  }
}

function checkBackends(conf: TraceConf, path: string, causes: Causes): void {
  const backends = conf.backends ?? [];
  if (backends.length > 1) causes.add(`${path}.backends`, 'must have zero or one backend defined');
  backends.forEach((b, i) => {
    const at = `${path}.backends[${i}]`;
    const field = b.type === 'Zipkin' ? 'zipkin' : b.type === 'Datadog' ? 'datadog' : 'openTelemetry';
    for (const other of ['zipkin', 'datadog', 'openTelemetry'] as const) {
      if (other !== field && b[other] !== undefined) causes.add(`${at}.${other}`, `must not be defined with type ${b.type}`);
    }
    if (b[field] === undefined) causes.add(`${at}.${field}`, `must be defined with type ${b.type}`);
    if (b.zipkin && !collectorUrl(b.zipkin.url)) causes.add(`${at}.zipkin.url`, 'must be a valid url');
    if (b.datadog && !collectorUrl(b.datadog.url)) causes.add(`${at}.datadog.url`, 'must be a valid url');
    if (b.openTelemetry && !hostPort(b.openTelemetry.endpoint)) causes.add(`${at}.openTelemetry.endpoint`, 'must be host:port, e.g. "otel-collector:4317"');
  });
  (conf.tags ?? []).forEach((t, i) => {
    if ((t.literal === undefined) === (t.header === undefined)) causes.add(`${path}.tags[${i}]`, "must have exactly one defined: 'literal', 'header'");
  });
}

export const MESH_TRACE: PolicyDefinition = {
  name: 'MeshTrace',
  plural: 'meshtraces',
  topDefault: true,
  conf: obj({
    backends: list(
      obj(
        {
          type: oneOf('Zipkin', 'Datadog', 'OpenTelemetry'),
          zipkin: obj({ url: str(), traceId128bit: bool, apiVersion: oneOf('httpJson', 'httpProto'), sharedSpanContext: bool }, { required: ['url'] }),
          datadog: obj({ url: str(), splitService: bool }, { required: ['url'] }),
          openTelemetry: obj({ endpoint: str() }, { required: ['endpoint'] }),
        },
        { required: ['type'] },
      ),
    ),
    sampling: obj({ overall: percent, client: percent, random: percent }),
    tags: list(obj({ name: str(), literal: str(false), header: obj({ name: str(), default: str(false) }, { required: ['name'] }) }, { required: ['name'] })),
  }),
  checkConf: (conf, path, causes) => checkBackends(conf as TraceConf, path, causes),
};

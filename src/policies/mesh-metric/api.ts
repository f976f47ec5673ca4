import type { Causes } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { any, bool, int, list, obj, oneOf, str } from '../schema.js';

/**
 * MeshMetric (Kuma 2.x): which of Envoy's metrics a sidecar exposes, and where. Skiff serves the
 * Prometheus backend from Envoy itself (a listener in front of Envoy's admin `/stats/prometheus`),
 * so what needs kuma-dp's metrics hijacker (application metrics, OpenTelemetry push, exclusions,
 * TLS on the endpoint) is refused with an error saying so rather than accepted and ignored.
 */
export interface Selector {
  type: 'Prefix' | 'Regex' | 'Exact' | 'Contains';
  match: string;
}
export interface MetricConf {
  sidecar?: { profiles?: { appendProfiles?: Array<{ name: 'All' | 'Basic' | 'None' }>; exclude?: Selector[]; include?: Selector[] }; includeUnused?: boolean };
  applications?: unknown[];
  backends?: Array<{ type: 'Prometheus' | 'OpenTelemetry'; prometheus?: { clientId?: string; port?: number; path?: string; tls?: { mode: string } }; openTelemetry?: unknown }>;
}

const selector = obj({ type: oneOf('Prefix', 'Regex', 'Exact', 'Contains'), match: str() }, { required: ['type', 'match'] });
const NOT_YET = 'is not supported by Skiff yet: it needs a metrics agent beside Envoy (kuma-dp\'s hijacker)';

function check(conf: MetricConf, path: string, causes: Causes): void {
  if (conf.applications?.length) causes.add(`${path}.applications`, NOT_YET);
  if (conf.sidecar?.profiles?.exclude?.length) causes.add(`${path}.sidecar.profiles.exclude`, `${NOT_YET}; Envoy's own stats filter can only include`);
  (conf.backends ?? []).forEach((b, i) => {
    const at = `${path}.backends[${i}]`;
    if (b.type === 'OpenTelemetry') causes.add(`${at}.type`, `OpenTelemetry ${NOT_YET}`);
    if (b.type === 'Prometheus' && !b.prometheus) causes.add(`${at}.prometheus`, 'must be defined with type Prometheus');
    if (b.prometheus?.tls && b.prometheus.tls.mode !== 'Disabled') causes.add(`${at}.prometheus.tls.mode`, `${b.prometheus.tls.mode} ${NOT_YET}`);
    if (b.prometheus?.path !== undefined && !b.prometheus.path.startsWith('/')) causes.add(`${at}.prometheus.path`, "must start with '/'");
  });
  const ids = (conf.backends ?? []).map((b) => b.prometheus?.clientId ?? '');
  if (new Set(ids).size !== ids.length) causes.add(`${path}.backends`, 'Prometheus backends must have distinct clientIds');
}

export const MESH_METRIC: PolicyDefinition = {
  name: 'MeshMetric',
  plural: 'meshmetrics',
  topDefault: true,
  conf: obj({
    sidecar: obj({ profiles: obj({ appendProfiles: list(obj({ name: oneOf('All', 'Basic', 'None') }, { required: ['name'] })), exclude: list(selector), include: list(selector) }), includeUnused: bool }),
    applications: list(any),
    backends: list(
      obj({ type: oneOf('Prometheus', 'OpenTelemetry'), prometheus: obj({ clientId: str(), port: int(1, 65535), path: str(), tls: obj({ mode: oneOf('Disabled', 'ProvidedTLS', 'ActiveMTLSBackend') }, { required: ['mode'] }) }), openTelemetry: any }, { required: ['type'] }),
    ),
  }),
  checkConf: (conf, path, causes) => check(conf as MetricConf, path, causes),
};

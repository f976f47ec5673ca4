import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { httpConnectionManager, socketAddress } from '../../xds/generators/envoy.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { mergeConf } from '../targetref.js';
import { Edits } from '../edits.js';
import { selecting } from '../policy.js';
import type { MetricConf, Selector } from './api.js';

export const ADMIN_CLUSTER = '_kuma:envoy:admin';
/** Kuma's defaults for a Prometheus backend. */
const DEFAULT_PORT = 5670;
const DEFAULT_PATH = '/metrics';
/** Kuma's Basic profile, as one RE2 regex over Envoy's stat names: traffic, errors, health, the server. */
const BASIC = '^(cluster\\.[^.]+\\.(upstream_(cx|rq)_|health_check\\.|outlier_detection\\.|membership_)|http\\.[^.]+\\.downstream_(cx|rq)_|listener\\.[^.]+\\.downstream_cx_|server\\.(live|uptime|memory_allocated|concurrency))';

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const selectorRegex = (s: Selector) => (s.type === 'Regex' ? s.match : s.type === 'Exact' ? `^${escape(s.match)}$` : s.type === 'Prefix' ? `^${escape(s.match)}` : escape(s.match));

/** Envoy's `/stats/prometheus` query for the profiles: `usedonly` and one `filter` regex (none for All). */
export function statsQuery(conf: MetricConf): string {
  const profiles = conf.sidecar?.profiles?.appendProfiles?.map((p) => p.name) ?? ['Basic'];
  const include = conf.sidecar?.profiles?.include ?? [];
  const params: string[] = conf.sidecar?.includeUnused ? [] : ['usedonly'];
  if (!profiles.includes('All')) {
    const parts = [...(profiles.includes('Basic') ? [BASIC] : []), ...include.map(selectorRegex)];
    params.push(`filter=${encodeURIComponent(parts.length > 0 ? parts.map((p) => `(${p})`).join('|') : '^$')}`);
  }
  return params.length > 0 ? `?${params.join('&')}` : '';
}

/**
 * Applies the MeshMetrics selecting a sidecar (their `default`s merged in order): per Prometheus
 * backend a listener on its port whose `path` is Envoy's `/stats/prometheus` with the profiles'
 * filter, through a cluster to Envoy's own admin interface. That needs the admin port the proxy's
 * bootstrap declared; a proxy that declared none gets no metrics listener. Proxyless clients have none.
 */
export function applyMeshMetrics(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless || !proxy.adminPort) return;
  const { name, dataplane } = proxy.dataplane;
  let conf: MetricConf | undefined;
  for (const policy of selecting(policiesOf(mesh, 'MeshMetric'), name, dataplane)) if (policy.default) conf = mergeConf(conf, policy.default as MetricConf);
  const backends = (conf?.backends ?? []).filter((b) => b.type === 'Prometheus');
  if (!conf || backends.length === 0) return;
  edits.add({
    typeUrl: TYPE_URLS.cluster,
    name: ADMIN_CLUSTER,
    resource: { name: ADMIN_CLUSTER, type: 'STATIC', connect_timeout: { seconds: 1 }, load_assignment: { cluster_name: ADMIN_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', proxy.adminPort) } }] }] } },
  });
  const query = statsQuery(conf);
  for (const b of backends) {
    const listenerName = `_kuma:metrics:prometheus:${b.prometheus?.clientId ?? 'default'}`;
    const hcm = httpConnectionManager(listenerName, listenerName);
    delete (hcm as Record<string, unknown>).rds;
    const route = { match: { path: b.prometheus?.path ?? DEFAULT_PATH }, route: { cluster: ADMIN_CLUSTER, prefix_rewrite: `/stats/prometheus${query}` } };
    edits.add({
      typeUrl: TYPE_URLS.listener,
      name: listenerName,
      resource: {
        name: listenerName,
        address: socketAddress(dataplane.address || '0.0.0.0', b.prometheus?.port ?? DEFAULT_PORT),
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { ...hcm, route_config: { name: listenerName, virtual_hosts: [{ name: listenerName, domains: ['*'], routes: [route] }] } } }] }],
        traffic_direction: 'INBOUND',
      },
    });
  }
  return;
}

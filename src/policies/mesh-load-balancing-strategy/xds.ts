import { parseDuration, protoDuration } from '../../core/duration.js';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { outboundListenerName, outboundRouteName } from '../../xds/generators/outbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, type Json, outboundServices, perConf, routeActions, tcpProxyOf } from '../edits.js';
import { outboundConf } from '../policy.js';
import type { HashPolicy, LoadBalancingConf } from './api.js';

const u32 = (value: number | undefined) => (value === undefined ? undefined : { value });
const EXT = 'type.googleapis.com/envoy.extensions.load_balancing_policies';
const ROUND_ROBIN = { typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin', typed_config: { '@type': `${EXT}.round_robin.v3.RoundRobin` } } };

type LoadBalancer = NonNullable<LoadBalancingConf['loadBalancer']>;

function sidecarCluster(cluster: Json, lb: LoadBalancer): void {
  switch (lb.type) {
    case 'RoundRobin':
      cluster.lb_policy = 'ROUND_ROBIN';
      break;
    case 'Random':
      cluster.lb_policy = 'RANDOM';
      break;
    case 'LeastRequest':
      cluster.lb_policy = 'LEAST_REQUEST';
      cluster.least_request_lb_config = {
        ...(lb.leastRequest?.choiceCount !== undefined ? { choice_count: u32(lb.leastRequest.choiceCount) } : {}),
        ...(lb.leastRequest?.activeRequestBias !== undefined ? { active_request_bias: { default_value: Number(lb.leastRequest.activeRequestBias), runtime_key: 'lb.least_request.active_request_bias' } } : {}),
      };
      break;
    case 'RingHash':
      cluster.lb_policy = 'RING_HASH';
      cluster.ring_hash_lb_config = {
        hash_function: lb.ringHash?.hashFunction === 'MurmurHash2' ? 'MURMUR_HASH_2' : 'XX_HASH',
        ...(lb.ringHash?.minRingSize !== undefined ? { minimum_ring_size: u32(lb.ringHash.minRingSize) } : {}),
        ...(lb.ringHash?.maxRingSize !== undefined ? { maximum_ring_size: u32(lb.ringHash.maxRingSize) } : {}),
      };
      break;
    case 'Maglev':
      cluster.lb_policy = 'MAGLEV';
      if (lb.maglev?.tableSize !== undefined) cluster.maglev_lb_config = { table_size: u32(lb.maglev.tableSize) };
      break;
  }
}

/**
 * gRPC clients take `load_balancing_policy` (gRFC A52): a list of which each takes the first it
 * knows, so the chosen policy comes with round robin behind it. grpc-js-xds knows ring hash (xxHash
 * only) and round robin; gRPC Go and Java also least request. Random and Maglev have no gRPC form.
 */
function proxylessCluster(cluster: Json, lb: LoadBalancer): void {
  let first: Json | undefined;
  if (lb.type === 'RingHash' && lb.ringHash?.hashFunction !== 'MurmurHash2') {
    first = {
      name: 'envoy.load_balancing_policies.ring_hash',
      typed_config: {
        '@type': `${EXT}.ring_hash.v3.RingHash`,
        hash_function: 'XX_HASH',
        ...(lb.ringHash?.minRingSize !== undefined ? { minimum_ring_size: u32(lb.ringHash.minRingSize) } : {}),
        ...(lb.ringHash?.maxRingSize !== undefined ? { maximum_ring_size: u32(lb.ringHash.maxRingSize) } : {}),
      },
    };
  } else if (lb.type === 'LeastRequest') {
    first = { name: 'envoy.load_balancing_policies.least_request', typed_config: { '@type': `${EXT}.least_request.v3.LeastRequest`, ...(lb.leastRequest?.choiceCount !== undefined ? { choice_count: u32(lb.leastRequest.choiceCount) } : {}) } };
  }
  delete cluster.lb_policy;
  cluster.load_balancing_policy = { policies: [...(first ? [{ typed_extension_config: first }] : []), ROUND_ROBIN] };
}

function routeHashPolicy(p: HashPolicy): Json | undefined {
  const terminal = p.terminal ? { terminal: true } : {};
  switch (p.type) {
    case 'Header':
      return { header: { header_name: p.header!.name }, ...terminal };
    case 'Cookie':
      return { cookie: { name: p.cookie!.name, ...(p.cookie!.ttl ? { ttl: protoDuration(parseDuration(p.cookie!.ttl) ?? 0) } : {}), ...(p.cookie!.path ? { path: p.cookie!.path } : {}) }, ...terminal };
    case 'Connection':
      return p.connection?.sourceIP === false ? undefined : { connection_properties: { source_ip: true }, ...terminal };
    case 'SourceIP':
      return { connection_properties: { source_ip: true }, ...terminal };
    case 'QueryParameter':
      return { query_parameter: { name: p.queryParameter!.name }, ...terminal };
    case 'FilterState':
      return { filter_state: { key: p.filterState!.key }, ...terminal };
  }
}

const hashPoliciesOf = (conf: LoadBalancingConf): HashPolicy[] => conf.hashPolicies ?? conf.loadBalancer?.ringHash?.hashPolicies ?? conf.loadBalancer?.maglev?.hashPolicies ?? [];

/**
 * Kuma's local-zone affinity without weights: endpoints sharing the proxy's value of the first
 * affinity tag take priority 0, those sharing the second the next, and so on; the rest the last.
 */
function affinityPriorities(cla: Json, mesh: MeshSnapshot, service: string, own: ReadonlyMap<string, ReadonlySet<string>>, keys: readonly string[]): void {
  const tagsByAddress = new Map((mesh.endpoints.get(service) ?? []).map((e) => [`${e.address}:${e.port}`, e.tags]));
  const rank = (lb: Json): number => {
    const address = lb.endpoint?.address?.socket_address;
    const tags = tagsByAddress.get(`${address?.address}:${address?.port_value}`) ?? {};
    const i = keys.findIndex((k) => tags[k] !== undefined && own.get(k)?.has(tags[k]!) === true);
    return i < 0 ? keys.length : i;
  };
  const all: Json[] = (cla.endpoints ?? []).flatMap((group: Json) => group.lb_endpoints ?? []);
  const levels = [...new Set(all.map(rank))].sort((a, b) => a - b);
  cla.endpoints = levels.map((level, priority) => ({ lb_endpoints: all.filter((e) => rank(e) === level), ...(priority > 0 ? { priority } : {}) }));
}

/** The clusters' shared-edit key, per load balancer object of a merged conf and side (sidecar, proxyless). */
const lbKey = perConf((lb: LoadBalancer, side: string) => `MeshLoadBalancingStrategy ${side} ${JSON.stringify(lb)}`);

/** Applies the MeshLoadBalancingStrategies selecting the proxy to its outbound clusters, routes and endpoints. */
export function applyMeshLoadBalancingStrategies(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshLoadBalancingStrategy');
  const { name, dataplane } = proxy.dataplane;
  const own = new Map<string, Set<string>>();
  for (const inbound of dataplane.inbound) for (const [k, v] of Object.entries(inbound.tags)) (own.get(k) ?? own.set(k, new Set()).get(k)!).add(v);
  for (const service of outboundServices(proxy, mesh)) {
    const conf = outboundConf<LoadBalancingConf>(policies, name, dataplane, service);
    if (!conf) continue;
    const lb = conf.loadBalancer;
    if (lb) {
      const key = lbKey(lb, proxy.proxyless ? 'proxyless' : 'sidecar');
      for (const cluster of edits.clustersOf(service)) edits.edit(TYPE_URLS.cluster, cluster, (c) => (proxy.proxyless ? proxylessCluster(c, lb) : sidecarCluster(c, lb)), key);
    }
    const hashing = hashPoliciesOf(conf).map(routeHashPolicy).filter((h): h is Json => h !== undefined);
    if (hashing.length > 0) {
      edits.edit(TYPE_URLS.route, proxy.proxyless ? service : outboundRouteName(service), (route) => routeActions(route).forEach((a) => (a.hash_policy = hashing)));
      if (!proxy.proxyless && hashing.some((h) => h.connection_properties)) {
        for (const o of dataplane.outbound.filter((x) => x.service === service)) {
          edits.edit(TYPE_URLS.listener, outboundListenerName(o.address, o.port), (l) => {
            const tcp = tcpProxyOf(l);
            if (tcp) tcp.hash_policy = [{ source_ip: {} }];
          });
        }
      }
    }
    const affinity = conf.localityAwareness?.disabled ? [] : (conf.localityAwareness?.localZone?.affinityTags ?? []);
    if (affinity.length > 0 && affinity.every((t) => t.weight === undefined)) {
      // The priorities depend on this proxy's own tags, so the key names them (built once per service, not per cluster).
      const keys = affinity.map((t) => t.key);
      const key = `MeshLoadBalancingStrategy affinity ${JSON.stringify(keys.map((k) => [k, [...(own.get(k) ?? [])].sort()]))}`;
      for (const cluster of edits.clustersOf(service)) edits.edit(TYPE_URLS.endpoint, cluster, (cla) => affinityPriorities(cla, mesh, service, own, keys), key);
    }
  }
  return;
}

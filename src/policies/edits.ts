import { cloneJson } from '../core/clone.js';
import { isIP } from 'node:net';
import { http2UpstreamOptions, socketAddress } from '../xds/generators/envoy.js';
import type { MeshSnapshot } from '../core/mesh-snapshot.js';
import type { GeneratedResource, ProxyContext } from '../xds/generators/types.js';
import { TYPE_URLS } from '../xds/resources.js';

/**
 * What the policies' `xds.ts` share: copy-on-write edits of generated resources (which many proxies
 * may share) and readers of the filters and route actions inside them.
 */
export type Json = Record<string, any>;

/**
 * Edit results for resources many proxies share (clusters, endpoints), by input object and a key
 * naming everything the edit depends on: proxies with the same inputs and confs share one output
 * object (encoded once), instead of each getting its own copy.
 */
const SHARED_EDITS = new WeakMap<object, Map<string, Json>>();

/**
 * `build(conf, variant)` memoised per conf object and variant. Merged confs are shared by the proxies
 * with the same selection, so a shared-edit key (or anything else derived from a conf alone) is built
 * once and is then the same string each time, which hashes and compares at once, where a JSON text
 * per proxy and service was built, hashed and compared.
 */
export function perConf<C extends object, V>(build: (conf: C, variant: string) => V): (conf: C, variant?: string) => V {
  const memo = new WeakMap<C, Map<string, V>>();
  return (conf, variant = '') => {
    let byVariant = memo.get(conf);
    if (!byVariant) memo.set(conf, (byVariant = new Map()));
    if (byVariant.has(variant)) return byVariant.get(variant)!;
    const value = build(conf, variant);
    byVariant.set(variant, value);
    return value;
  };
}

/**
 * The generated resources of one proxy while its policies apply, in order. A resource is copied the
 * first time a policy edits it and then edited in place (the copy is this proxy's own); shared
 * inputs stay untouched.
 */
export class Edits {
  /** Positions by type URL, then name: the type URLs are shared constants, so no key is built per lookup. */
  private readonly index = new Map<string, Map<string, number>>();
  private readonly owned = new WeakSet<object>();
  readonly resources: GeneratedResource[];
  constructor(resources: readonly GeneratedResource[]) {
    this.resources = [...resources];
    this.reindex();
  }
  private reindex(): void {
    this.index.clear();
    this.resources.forEach((r, i) => this.positions(r.typeUrl).set(r.name, i));
  }
  private positions(typeUrl: string): Map<string, number> {
    let byName = this.index.get(typeUrl);
    if (!byName) this.index.set(typeUrl, (byName = new Map()));
    return byName;
  }
  /**
   * Edits the resource (type, name); false when there is none. With `shared`, a key for every input
   * `change` reads besides the resource, the result is memoised and shared with other proxies.
   */
  edit(typeUrl: string, name: string, change: (resource: Json) => void, shared?: string): boolean {
    const i = this.index.get(typeUrl)?.get(name);
    if (i === undefined) return false;
    const current = this.resources[i]!.resource as Json;
    if (this.owned.has(current)) {
      change(current);
      return true;
    }
    let result: Json | undefined;
    if (shared !== undefined) {
      let byKey = SHARED_EDITS.get(current);
      if (!byKey) SHARED_EDITS.set(current, (byKey = new Map()));
      result = byKey.get(shared);
      if (!result) {
        result = cloneJson(current);
        change(result);
        byKey.set(shared, result);
      }
    } else {
      result = cloneJson(current);
      change(result);
      this.owned.add(result);
    }
    this.resources[i] = withResource(this.resources[i]!, result);
    return true;
  }
  /**
   * Replaces the resource (type, name) with what `change` returns for it. The result may share
   * parts with its input (a merge patch does), so it is not this proxy's to edit in place: a later
   * edit copies it.
   */
  replace(typeUrl: string, name: string, change: (resource: Json) => Json): void {
    const i = this.index.get(typeUrl)?.get(name);
    if (i === undefined) return;
    this.resources[i] = withResource(this.resources[i]!, change(this.resources[i]!.resource as Json));
  }
  get(typeUrl: string, name: string): Json | undefined {
    const i = this.index.get(typeUrl)?.get(name);
    return i === undefined ? undefined : (this.resources[i]!.resource as Json);
  }
  /** The names of a type, in the order the resources are assembled (positions only grow in a map's insertion order). */
  names(typeUrl: string): string[] {
    return [...(this.index.get(typeUrl)?.keys() ?? [])];
  }
  add(resource: GeneratedResource): void {
    const positions = this.positions(resource.typeUrl);
    const i = positions.get(resource.name);
    if (i !== undefined) this.resources[i] = resource;
    else positions.set(resource.name, this.resources.push(resource) - 1);
  }
  remove(typeUrl: string, name: string): void {
    const i = this.index.get(typeUrl)?.get(name);
    if (i === undefined) return;
    this.resources.splice(i, 1);
    this.reindex();
  }
  /** The service's cluster and its TrafficRoute subset clusters (`{service}[tag=value]`). */
  clustersOf(service: string): string[] {
    const names: string[] = [];
    const prefix = `${service}[`;
    for (const n of this.index.get(TYPE_URLS.cluster)?.keys() ?? []) if (n === service || n.startsWith(prefix)) names.push(n);
    return names;
  }
}

/** A literal, not a spread: copying by spread was a tenth of what applying policies cost. */
const withResource = (r: GeneratedResource, resource: Json): GeneratedResource => ({ typeUrl: r.typeUrl, name: r.name, resource });

export const HCM = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY = 'envoy.filters.network.tcp_proxy';
export const filtersOf = (listener: Json): Json[] => (listener.filter_chains ?? []).flatMap((c: Json) => c.filters ?? []);
export const hcmOf = (listener: Json) => filtersOf(listener).find((f) => f.name === HCM)?.typed_config as Json | undefined;
export const tcpProxyOf = (listener: Json) => filtersOf(listener).find((f) => f.name === TCP_PROXY)?.typed_config as Json | undefined;
/**
 * The listener with the `typed_config` of its filters named `filter` edited by `change`, copying
 * only the path to them (chains, filter lists, the filter, its config: shallowly); the rest is
 * shared with the input. `change` may only assign the config's own fields. For `Edits.replace`:
 * a whole copy of a listener (its TLS context and RBAC rules included) for a few fields was most
 * of what editing an inbound listener cost.
 */
export function withFilterConfig(listener: Json, filter: string, change: (config: Json) => void): Json {
  return {
    ...listener,
    filter_chains: (listener.filter_chains ?? []).map((chain: Json) => ({
      ...chain,
      filters: (chain.filters ?? []).map((f: Json) => {
        if (f.name !== filter || !f.typed_config) return f;
        const config = { ...f.typed_config };
        change(config);
        return { ...f, typed_config: config };
      }),
    })),
  };
}
export const routesOf = (routeConfig: Json): Json[] => (routeConfig.virtual_hosts ?? []).flatMap((vh: Json) => vh.routes ?? []);
export const routeActions = (routeConfig: Json): Json[] => routesOf(routeConfig).map((r: Json) => r.route).filter(Boolean);

/** Inserts an HTTP filter before the router (which must stay last). */
export function addHttpFilter(hcm: Json, filter: Json): void {
  const filters: Json[] = (hcm.http_filters ??= []);
  const router = filters.findIndex((f) => f.name === 'envoy.filters.http.router');
  filters.splice(router < 0 ? filters.length : router, 0, filter);
}

/**
 * A cluster for a collector a policy sends to (logs, traces): one endpoint, resolved by DNS unless
 * it is an address, HTTP/2 for gRPC collectors, TLS (with SNI) when asked.
 */
export function collectorCluster(name: string, host: string, port: number, options: { http2: boolean; tls?: boolean }): GeneratedResource {
  return {
    typeUrl: TYPE_URLS.cluster,
    name,
    resource: {
      name,
      type: isIP(host) ? 'STATIC' : 'STRICT_DNS',
      connect_timeout: { seconds: 5 },
      ...(options.http2 ? { typed_extension_protocol_options: http2UpstreamOptions() } : {}),
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }] },
      ...(options.tls
        ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', ...(isIP(host) ? {} : { sni: host }) } } }
        : {}),
    },
  };
}

/** The services a proxy calls: a sidecar's outbound services; for a proxyless client, every service of the mesh. */
export function outboundServices(proxy: ProxyContext, mesh: MeshSnapshot): string[] {
  return proxy.proxyless ? [...mesh.endpoints.keys()] : [...new Set(proxy.dataplane.dataplane.outbound.map((o) => o.service))];
}

import type { GeneratedResource } from '../xds/generators/types.js';
import { TYPE_URLS } from '../xds/resources.js';

/**
 * What the policies' `xds.ts` share: copy-on-write edits of generated resources (which many proxies
 * may share) and readers of the filters and route actions inside them.
 */
export type Json = Record<string, any>;

export class Edits {
  private readonly index = new Map<string, number>();
  readonly resources: GeneratedResource[];
  constructor(resources: readonly GeneratedResource[]) {
    this.resources = [...resources];
    this.resources.forEach((r, i) => this.index.set(`${r.typeUrl}|${r.name}`, i));
  }
  /** Edits a copy of the resource (type, name); false when there is none. */
  edit(typeUrl: string, name: string, change: (resource: Json) => void): boolean {
    const i = this.index.get(`${typeUrl}|${name}`);
    if (i === undefined) return false;
    const copy = structuredClone(this.resources[i]!.resource) as Json;
    change(copy);
    this.resources[i] = { ...this.resources[i]!, resource: copy };
    return true;
  }
  /** Replaces the resource (type, name) with what `change` returns for it. */
  replace(typeUrl: string, name: string, change: (resource: Json) => Json): void {
    const i = this.index.get(`${typeUrl}|${name}`);
    if (i !== undefined) this.resources[i] = { ...this.resources[i]!, resource: change(this.resources[i]!.resource as Json) };
  }
  get(typeUrl: string, name: string): Json | undefined {
    const i = this.index.get(`${typeUrl}|${name}`);
    return i === undefined ? undefined : (this.resources[i]!.resource as Json);
  }
  names(typeUrl: string): string[] {
    return this.resources.filter((r) => r.typeUrl === typeUrl).map((r) => r.name);
  }
  add(resource: GeneratedResource): void {
    const key = `${resource.typeUrl}|${resource.name}`;
    const i = this.index.get(key);
    if (i !== undefined) this.resources[i] = resource;
    else this.index.set(key, this.resources.push(resource) - 1);
  }
  remove(typeUrl: string, name: string): void {
    const i = this.index.get(`${typeUrl}|${name}`);
    if (i === undefined) return;
    this.resources.splice(i, 1);
    this.index.clear();
    this.resources.forEach((r, j) => this.index.set(`${r.typeUrl}|${r.name}`, j));
  }
  /** The service's cluster and its TrafficRoute subset clusters (`{service}[tag=value]`). */
  clustersOf(service: string): string[] {
    return this.names(TYPE_URLS.cluster).filter((n) => n === service || n.startsWith(`${service}[`));
  }
}

export const HCM = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY = 'envoy.filters.network.tcp_proxy';
export const filtersOf = (listener: Json): Json[] => (listener.filter_chains ?? []).flatMap((c: Json) => c.filters ?? []);
export const hcmOf = (listener: Json) => filtersOf(listener).find((f) => f.name === HCM)?.typed_config as Json | undefined;
export const tcpProxyOf = (listener: Json) => filtersOf(listener).find((f) => f.name === TCP_PROXY)?.typed_config as Json | undefined;
export const routesOf = (routeConfig: Json): Json[] => (routeConfig.virtual_hosts ?? []).flatMap((vh: Json) => vh.routes ?? []);
export const routeActions = (routeConfig: Json): Json[] => routesOf(routeConfig).map((r: Json) => r.route).filter(Boolean);

/** Inserts an HTTP filter before the router (which must stay last). */
export function addHttpFilter(hcm: Json, filter: Json): void {
  const filters: Json[] = (hcm.http_filters ??= []);
  const router = filters.findIndex((f) => f.name === 'envoy.filters.http.router');
  filters.splice(router < 0 ? filters.length : router, 0, filter);
}

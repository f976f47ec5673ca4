import { cloneJson } from '../../core/clone.js';
import jsonPatch from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import type { Tags } from '../../core/tags.js';
import { inboundListenerName } from '../../xds/generators/inbound.js';
import { outboundListenerName } from '../../xds/generators/outbound.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { fromProto3Json } from '../../xds/proto-json.js';
import { TYPE_URLS, type TypeUrl } from '../../xds/resources.js';
import { Edits, filtersOf, HCM, type Json } from '../edits.js';
import { selecting } from '../policy.js';
import type { JsonPatchOp, Modification, ProxyPatchConf } from './api.js';

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** Our resources use proto field names; users write proto-JSON (camelCase) or field names: both are taken. */
const snakeKeys = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(snakeKeys) : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k === '@type' ? k : snake(k), snakeKeys(v)])) : value;

/** Protobuf's merge: messages merge field by field, repeated fields are appended, scalars replaced. */
function protoMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (Array.isArray(v) && Array.isArray(out[k])) out[k] = [...out[k], ...v];
    else if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k]) && (v as Json)['@type'] === undefined) out[k] = protoMerge(out[k], v as Json);
    else out[k] = v;
  }
  return out;
}

function patch(typeUrl: string, resource: Json, mod: { value?: string; jsonPatches?: JsonPatchOp[] }): Json {
  if (mod.value !== undefined) return protoMerge(resource, fromProto3Json(typeUrl, parseYaml(mod.value) as Json));
  const ops = (mod.jsonPatches ?? []).map((o) => ({ ...o, path: o.path.split('/').map(snake).join('/'), ...(o.from ? { from: o.from.split('/').map(snake).join('/') } : {}), ...('value' in o ? { value: snakeKeys(o.value) } : {}) }));
  const patched = jsonPatch.applyPatch(cloneJson(resource), ops as jsonPatch.Operation[], true, false).newDocument as Json;
  // Back through the descriptors: a path or value the message does not have is an error here.
  return fromProto3Json(typeUrl, patched);
}

/** Kuma's origins, from how Skiff names what it generates. */
const originOf = (name: string) => (name.startsWith('inbound:') || name.startsWith('localhost:') ? 'inbound' : 'outbound');

export class ProxyPatchError extends Error {}

/**
 * Applies the MeshProxyPatches selecting a sidecar, in merge order, each modification in the order
 * written (Kuma appends `appendModifications` across policies). A modification that cannot apply
 * (a JSON Patch on a missing path, a value of the wrong type) fails the proxy's generation, as in
 * Kuma: the proxy keeps its last configuration and the error names the policy.
 */
export function applyMeshProxyPatches(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (proxy.proxyless) return;
  const { name, dataplane } = proxy.dataplane;
  const listenerTags = new Map<string, Tags>();
  for (const i of dataplane.inbound) listenerTags.set(inboundListenerName(i.address, i.port), i.tags);
  for (const o of dataplane.outbound) listenerTags.set(outboundListenerName(o.address, o.port), o.tags);
  for (const policy of selecting(policiesOf(mesh, 'MeshProxyPatch'), name, dataplane)) {
    ((policy.default as ProxyPatchConf | undefined)?.appendModifications ?? []).forEach((m, i) => {
      try {
        modify(edits, m, listenerTags);
      } catch (err) {
        throw new ProxyPatchError(`MeshProxyPatch "${policy.name}" spec.default.appendModifications[${i}]: ${(err as Error).message.split('\n')[0]}`);
      }
    });
  }
  return;
}

const tagsMatch = (wanted: Tags | undefined, tags: Tags | undefined) => Object.entries(wanted ?? {}).every(([k, v]) => tags?.[k] === v);

function resourceOp(edits: Edits, typeUrl: TypeUrl, mod: NonNullable<Modification['cluster'] | Modification['listener']>, extra: (name: string) => boolean): void {
  if (mod.operation === 'Add') {
    const value = fromProto3Json(typeUrl, parseYaml(mod.value!) as Json);
    edits.add({ typeUrl, name: String(value.name), resource: value });
    return;
  }
  const match = mod.match ?? {};
  for (const name of edits.names(typeUrl)) {
    if ((match.name !== undefined && match.name !== name) || (match.origin !== undefined && match.origin !== originOf(name)) || !extra(name)) continue;
    if (mod.operation === 'Remove') edits.remove(typeUrl, name);
    else edits.replace(typeUrl, name, (r) => patch(typeUrl, r, mod));
  }
}

function filterOp(edits: Edits, kind: 'networkFilter' | 'httpFilter', mod: NonNullable<Modification['networkFilter']>, listenerTags: ReadonlyMap<string, Tags>): void {
  const match = mod.match ?? {};
  for (const listenerName of edits.names(TYPE_URLS.listener)) {
    if ((match.listenerName !== undefined && match.listenerName !== listenerName) || (match.origin !== undefined && match.origin !== originOf(listenerName)) || !tagsMatch(match.listenerTags, listenerTags.get(listenerName))) continue;
    edits.edit(TYPE_URLS.listener, listenerName, (listener) => {
      const chains: Json[] = listener.filter_chains ?? [];
      const lists: Json[][] = kind === 'networkFilter' ? chains.map((c) => (c.filters ??= [])) : filtersOf(listener).filter((f) => f.name === HCM).map((f) => (f.typed_config.http_filters ??= []));
      for (const filters of lists) filterListOp(filters, mod, kind);
    });
  }
}

function filterListOp(filters: Json[], mod: NonNullable<Modification['networkFilter']>, kind: 'networkFilter' | 'httpFilter'): void {
  const name = mod.match?.name;
  const value = () => {
    const v = snakeKeys(parseYaml(mod.value!)) as Json;
    // A filter's typed_config is an Any: converted by its own @type.
    if (v.typed_config?.['@type']) v.typed_config = { '@type': v.typed_config['@type'], ...fromProto3Json(v.typed_config['@type'], v.typed_config) };
    return v;
  };
  const at = name === undefined ? -1 : filters.findIndex((f) => f.name === name);
  switch (mod.operation) {
    case 'AddFirst':
      filters.unshift(value());
      return;
    case 'AddLast':
      // HTTP filters: before the router, which must stay last.
      if (kind === 'httpFilter' && filters.at(-1)?.name === 'envoy.filters.http.router') filters.splice(filters.length - 1, 0, value());
      else filters.push(value());
      return;
    case 'AddBefore':
      if (at >= 0) filters.splice(at, 0, value());
      return;
    case 'AddAfter':
      if (at >= 0) filters.splice(at + 1, 0, value());
      return;
    case 'Remove':
      for (let i = filters.length - 1; i >= 0; i--) if (name === undefined || filters[i]!.name === name) filters.splice(i, 1);
      return;
    case 'Patch':
      filters.forEach((f, i) => {
        if (name !== undefined && f.name !== name) return;
        const typeUrl = f.typed_config?.['@type'];
        if (!typeUrl) return;
        filters[i] = { ...f, typed_config: { '@type': typeUrl, ...patch(typeUrl, f.typed_config, mod) } };
      });
  }
}

function virtualHostOp(edits: Edits, mod: NonNullable<Modification['virtualHost']>): void {
  const match = mod.match ?? {};
  for (const routeName of edits.names(TYPE_URLS.route)) {
    if ((match.routeConfigurationName !== undefined && match.routeConfigurationName !== routeName) || (match.origin !== undefined && match.origin !== originOf(routeName))) continue;
    edits.edit(TYPE_URLS.route, routeName, (route) => {
      const hosts: Json[] = (route.virtual_hosts ??= []);
      if (mod.operation === 'Add') {
        hosts.push(fromProto3Json('type.googleapis.com/envoy.config.route.v3.VirtualHost', parseYaml(mod.value!) as Json));
        return;
      }
      for (let i = hosts.length - 1; i >= 0; i--) {
        if (match.name !== undefined && hosts[i]!.name !== match.name) continue;
        if (mod.operation === 'Remove') hosts.splice(i, 1);
        else hosts[i] = patch('type.googleapis.com/envoy.config.route.v3.VirtualHost', hosts[i]!, mod);
      }
    });
  }
}

function modify(edits: Edits, m: Modification, listenerTags: ReadonlyMap<string, Tags>): void {
  if (m.cluster) resourceOp(edits, TYPE_URLS.cluster, m.cluster, () => true);
  else if (m.listener) resourceOp(edits, TYPE_URLS.listener, m.listener, (n) => tagsMatch(m.listener!.match?.tags, listenerTags.get(n)));
  else if (m.networkFilter) filterOp(edits, 'networkFilter', m.networkFilter, listenerTags);
  else if (m.httpFilter) filterOp(edits, 'httpFilter', m.httpFilter, listenerTags);
  else if (m.virtualHost) virtualHostOp(edits, m.virtualHost);
}

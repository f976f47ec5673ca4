import jsonPatch from 'fast-json-patch';
import { buildMeshSnapshot, type MeshPolicies, type MeshSnapshot } from '../core/mesh-snapshot.js';
import type { ResourceKey, StoredResource } from '../core/model.js';
import { LEGACY_POLICY_FIELDS, listMeshPolicies, POLICY_TYPES } from '../store/mesh-policies.js';
import type { ResourceStore } from '../store/store.js';
import { generateProxyResources } from './generators/index.js';
import type { GeneratedResource } from './generators/types.js';
import { SHORT_NAMES, TYPE_URLS, type TypeUrl } from './resources.js';

/**
 * What a change would do before it is made (`?dryRun=true`), and what shadow policies would do
 * (`_config?shadow=true`): every dataplane of the mesh generated with the same generators as the
 * real push, on the stored state and on the state with the change, and compared resource by
 * resource. Secrets are left out: they carry keys, and a new issuance differs every time.
 */
export interface ResourceRef {
  typeUrl: string;
  name: string;
}
export interface DataplaneImpact {
  mesh: string;
  name: string;
  added: ResourceRef[];
  removed: ResourceRef[];
  modified: Array<ResourceRef & { patch: jsonPatch.Operation[] }>;
  /** Generation failed with the change (e.g. a MeshProxyPatch that cannot apply): the proxy would keep its config. */
  error?: string;
}
export interface Impact {
  dataplanes: number;
  items: DataplaneImpact[];
}

/** A write to preview: the resource and its spec after it, or undefined for a delete. */
export interface PendingChange {
  key: ResourceKey;
  spec: Record<string, unknown> | undefined;
}

/** How a connected proxy asked to be served (a proxyless client, its admin port); unknown for others. */
export type ConnectedAs = (nodeId: string) => { proxyless: boolean; adminPort?: number } | undefined;

interface MeshState {
  mesh: StoredResource | undefined;
  dataplanes: StoredResource[];
  policies: MeshPolicies;
}


function withChange(list: readonly StoredResource[], change: PendingChange): StoredResource[] {
  const rest = list.filter((r) => r.name !== change.key.name);
  if (!change.spec) return rest;
  const known = list.find((r) => r.name === change.key.name);
  const now = new Date().toISOString();
  return [...rest, { ...change.key, spec: change.spec, version: (known?.version ?? 0) + 1, creationTime: known?.creationTime ?? now, modificationTime: now }];
}

export class ConfigPreview {
  constructor(
    private readonly store: ResourceStore,
    private readonly connectedAs: ConnectedAs = () => undefined,
  ) {}

  private async state(mesh: string): Promise<MeshState> {
    return {
      mesh: await this.store.get({ type: 'Mesh', mesh: '', name: mesh }),
      dataplanes: (await this.store.list('Dataplane', { mesh })).items,
      policies: await listMeshPolicies(this.store, mesh),
    };
  }

  private apply(state: MeshState, change: PendingChange): MeshState {
    const { type } = change.key;
    if (type === 'Mesh') return { ...state, mesh: change.spec ? { ...(state.mesh ?? withChange([], change)[0]!), spec: change.spec } : undefined };
    if (type === 'Dataplane') return { ...state, dataplanes: withChange(state.dataplanes, change) };
    if (!POLICY_TYPES.has(type)) return state;
    const legacy = (LEGACY_POLICY_FIELDS as Record<string, keyof MeshPolicies | undefined>)[type];
    if (legacy) return { ...state, policies: { ...state.policies, [legacy]: withChange((state.policies[legacy] as StoredResource[] | undefined) ?? [], change) } };
    const targetRef = { ...state.policies.targetRef };
    const list = withChange(targetRef[type as keyof typeof targetRef] ?? [], change);
    if (list.length > 0) targetRef[type as keyof typeof targetRef] = list;
    else delete targetRef[type as keyof typeof targetRef];
    return { ...state, policies: { ...state.policies, targetRef } };
  }

  private snapshot(state: MeshState, shadow = false): MeshSnapshot | undefined {
    return state.mesh && buildMeshSnapshot(state.mesh, state.dataplanes, undefined, state.policies, { shadow });
  }

  /** The resources a dataplane would be served from `mesh` (secrets left out), or the generation error. */
  generate(mesh: MeshSnapshot | undefined, name: string): Map<string, GeneratedResource> | Error {
    const entry = mesh?.dataplanes.get(name);
    const out = new Map<string, GeneratedResource>();
    if (!mesh || !entry) return out;
    const nodeId = `${mesh.mesh}.${name}`;
    const as = this.connectedAs(nodeId);
    try {
      for (const r of generateProxyResources({ nodeId, dataplane: entry, proxyless: as?.proxyless ?? false, ...(as?.adminPort ? { adminPort: as.adminPort } : {}) }, mesh)) {
        if (r.typeUrl !== TYPE_URLS.secret) out.set(`${r.typeUrl} ${r.name}`, r);
      }
    } catch (err) {
      return err as Error;
    }
    return out;
  }

  /** Every dataplane whose generated configuration `change` would alter, connected or not. */
  async impact(change: PendingChange): Promise<Impact> {
    const meshName = change.key.type === 'Mesh' ? change.key.name : change.key.mesh;
    if (!meshName) return { dataplanes: 0, items: [] };
    const before = await this.state(meshName);
    const after = this.apply(before, change);
    const [was, will] = [this.snapshot(before), this.snapshot(after)];
    const names = [...new Set([...before.dataplanes, ...after.dataplanes].map((d) => d.name))].sort();
    const items: DataplaneImpact[] = [];
    for (const [i, name] of names.entries()) {
      const item = diff(meshName, name, this.generate(was, name), this.generate(will, name));
      if (item) items.push(item);
      // A preview of a big mesh must not hold the event loop (xDS streams, other requests).
      if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    }
    return { dataplanes: items.length, items };
  }

  /** `shadow` in the API's shape: resources by xDS type (`cds`, `lds`, …) and name. */
  async shadowConfig(meshName: string, name: string): Promise<{ current: Record<string, Record<string, unknown>>; shadow: Record<string, Record<string, unknown>>; error?: string } | undefined> {
    const both = await this.shadow(meshName, name);
    if (!both) return undefined;
    const byType = (generated: Map<string, GeneratedResource> | Error) => {
      const out: Record<string, Record<string, unknown>> = {};
      if (generated instanceof Error) return out;
      for (const r of generated.values()) (out[SHORT_NAMES[r.typeUrl as TypeUrl]] ??= {})[r.name] = r.resource;
      return out;
    };
    const error = both.shadow instanceof Error ? both.shadow.message : undefined;
    return { current: byType(both.current), shadow: byType(both.shadow), ...(error ? { error } : {}) };
  }

  /** A dataplane's configuration as served, and as it would be with the mesh's shadow policies. */
  async shadow(meshName: string, name: string): Promise<{ current: Map<string, GeneratedResource> | Error; shadow: Map<string, GeneratedResource> | Error } | undefined> {
    const state = await this.state(meshName);
    if (!state.mesh || !state.dataplanes.some((d) => d.name === name)) return undefined;
    return { current: this.generate(this.snapshot(state), name), shadow: this.generate(this.snapshot(state, true), name) };
  }
}

/** The difference between two generations of one dataplane; undefined when there is none. */
export function diff(mesh: string, name: string, before: Map<string, GeneratedResource> | Error, after: Map<string, GeneratedResource> | Error): DataplaneImpact | undefined {
  if (after instanceof Error) return { mesh, name, added: [], removed: [], modified: [], error: after.message };
  const was = before instanceof Error ? new Map<string, GeneratedResource>() : before;
  const ref = (r: GeneratedResource) => ({ typeUrl: r.typeUrl, name: r.name });
  const added = [...after].filter(([k]) => !was.has(k)).map(([, r]) => ref(r));
  const removed = [...was].filter(([k]) => !after.has(k)).map(([, r]) => ref(r));
  const modified: DataplaneImpact['modified'] = [];
  for (const [k, r] of after) {
    const old = was.get(k);
    if (!old || old.resource === r.resource) continue;
    const patch = jsonPatch.compare(old.resource, r.resource);
    if (patch.length > 0) modified.push({ ...ref(r), patch });
  }
  return added.length || removed.length || modified.length ? { mesh, name, added, removed, modified } : undefined;
}

import { cloneJson } from '../core/clone.js';
import type { NormalizedDataplane } from '../core/resources/dataplane.js';
import { at, Causes, checkKnownFields, checkTags, isObject, type Obj } from '../core/validate.js';

/**
 * Kuma 2.x targetRef: what a policy selects (top level), or what a `to`/`from` entry targets.
 * Pure (core level): validation, selection of a dataplane, specificity, and the field-by-field merge
 * the whole targetRef family shares (Kuma's `pkg/plugins/policies/core`).
 */
export type TargetRefKind = 'Mesh' | 'MeshSubset' | 'MeshService' | 'MeshServiceSubset' | 'Dataplane';
export interface TargetRef {
  kind: TargetRefKind;
  name?: string;
  tags?: Record<string, string>;
  labels?: Record<string, string>;
  proxyTypes?: Array<'Sidecar' | 'Gateway'>;
}

/** Kinds Kuma has that Skiff does not serve yet: named in the error rather than "unknown". */
const NOT_SUPPORTED = ['MeshGateway', 'MeshHTTPRoute', 'MeshExternalService', 'MeshMultiZoneService'];

/** Top level: Mesh < MeshSubset < MeshService < MeshServiceSubset < Dataplane (Kuma's order). */
const SPECIFICITY: Record<TargetRefKind, number> = { Mesh: 0, MeshSubset: 1, MeshService: 2, MeshServiceSubset: 3, Dataplane: 4 };
/** Kuma's CompareDataplaneKind: a Dataplane ref by name is more specific than one by labels. */
export const specificity = (ref: TargetRef): number => SPECIFICITY[ref.kind] + (ref.kind === 'Dataplane' && ref.name !== undefined ? 0.5 : 0);

/**
 * Checks a targetRef at `path` against the kinds its place allows, with Kuma's rules per kind:
 * Mesh takes nothing else; MeshService needs `name`; MeshSubset and MeshServiceSubset take `tags`;
 * Dataplane needs `name` or `labels`. An absent top-level targetRef means Mesh.
 */
export function checkTargetRef(value: unknown, path: string, allowed: readonly TargetRefKind[], causes: Causes): value is TargetRef {
  if (!isObject(value)) {
    causes.add(path, 'must be an object with a kind');
    return false;
  }
  checkKnownFields(value, ['kind', 'name', 'tags', 'labels', 'proxyTypes', 'namespace', 'sectionName'], path, causes);
  const kind = value.kind;
  if (typeof kind !== 'string' || kind === '') {
    causes.add(at(path, 'kind'), 'must be defined');
    return false;
  }
  if (!(allowed as readonly string[]).includes(kind)) {
    const why = NOT_SUPPORTED.includes(kind) ? `${kind} is not supported by Skiff yet` : 'value is not supported';
    causes.add(at(path, 'kind'), `${why}; supported values here: ${allowed.join(', ')}`);
    return false;
  }
  const before = causes.list.length;
  if (value.proxyTypes !== undefined && (!Array.isArray(value.proxyTypes) || value.proxyTypes.some((t) => t !== 'Sidecar' && t !== 'Gateway'))) {
    causes.add(at(path, 'proxyTypes'), 'must be a list of: Sidecar, Gateway');
  }
  const has = (key: string) => value[key] !== undefined;
  const mustNot = (key: string) => has(key) && causes.add(at(path, key), `must not be set with kind ${kind}`);
  const nameRequired = () => (typeof value.name !== 'string' || value.name === '') && causes.add(at(path, 'name'), `must be set with kind ${kind}`);
  switch (kind as TargetRefKind) {
    case 'Mesh':
      mustNot('name');
      mustNot('tags');
      mustNot('labels');
      break;
    case 'MeshSubset':
      mustNot('name');
      mustNot('labels');
      if (has('tags')) checkTags(value.tags, at(path, 'tags'), causes);
      break;
    case 'MeshService':
      nameRequired();
      mustNot('tags');
      break;
    case 'MeshServiceSubset':
      nameRequired();
      if (has('tags')) checkTags(value.tags, at(path, 'tags'), causes);
      break;
    case 'Dataplane':
      if (!has('name') && !has('labels')) causes.add(path, 'must set name or labels with kind Dataplane');
      if (has('name') && (typeof value.name !== 'string' || value.name === '')) causes.add(at(path, 'name'), 'must be a non-empty string');
      if (has('labels')) checkTags(value.labels, at(path, 'labels'), causes);
      mustNot('tags');
      break;
  }
  return causes.list.length === before;
}

const tagsMatch = (wanted: Record<string, string> | undefined, tags: Record<string, string>) => Object.entries(wanted ?? {}).every(([k, v]) => tags[k] === v);

/**
 * Whether a top-level targetRef selects a dataplane: Mesh all; MeshSubset those with an inbound
 * carrying its tags; MeshService(Subset) those with an inbound of that service (and tags); Dataplane
 * by name (and labels: the dataplane's own `labels`).
 */
export function selectsDataplane(ref: TargetRef, name: string, dataplane: NormalizedDataplane, labels: Record<string, string> = dataplane.labels): boolean {
  // `proxyTypes` (Kuma 2.6+): Sidecar or Gateway; Skiff has no gateways, and a proxyless gRPC
  // client is a mesh workload like a sidecar.
  if (ref.proxyTypes && ref.proxyTypes.length > 0 && !ref.proxyTypes.includes('Sidecar')) return false;
  const inbounds = dataplane.inbound;
  switch (ref.kind) {
    case 'Mesh':
      return true;
    case 'MeshSubset':
      return inbounds.some((i) => tagsMatch(ref.tags, i.tags));
    case 'MeshService':
      return inbounds.some((i) => i.service === ref.name);
    case 'MeshServiceSubset':
      return inbounds.some((i) => i.service === ref.name && tagsMatch(ref.tags, i.tags));
    case 'Dataplane':
      return (ref.name === undefined || ref.name === name) && tagsMatch(ref.labels, labels);
  }
}

/**
 * Kuma's merge of policy confs: fields of `over` replace those of `base`, objects merge field by
 * field, lists (and scalars) are replaced whole, never appended.
 */
export function mergeConf<T extends object>(base: T | undefined, over: T): T {
  if (!base) return cloneJson(over);
  const out: Obj = { ...(base as Obj) };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(out[key]) ? mergeConf(out[key] as Obj, value) : cloneJson(value);
  }
  return out as T;
}

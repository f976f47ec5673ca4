import type { NormalizedDataplane } from '../core/resources/dataplane.js';
import { at, Causes, checkKnownFields, checkLabels, isObject, listAt, objectAt, type Obj } from '../core/validate.js';
import { checkField, type Field } from './schema.js';
import { checkTargetRef, mergeConf, selectsDataplane, specificity, type TargetRef, type TargetRefKind } from './targetref.js';

/**
 * What every targetRef policy shares (Kuma's `pkg/plugins/policies/core`): the Universal form
 * `{type, mesh, name, labels?, spec: {targetRef?, to?, from?, rules?, default?}}`, its validation
 * driven by a per-type definition, and the selection and merge of confs. Core level: no I/O.
 */
export interface PolicyEntry {
  targetRef: TargetRef;
  default: Obj;
}
/** A `to` entry: `default`, or (routes) `rules`. */
export interface ToEntry extends PolicyEntry {
  rules?: Obj[];
}

export interface TargetRefPolicy {
  type: string;
  name: string;
  labels: Record<string, string>;
  targetRef: TargetRef;
  to: readonly ToEntry[];
  /** `from` entries, then `rules` (Kuma 2.9+, inbound confs for every caller: targetRef Mesh). */
  from: readonly PolicyEntry[];
  /** A top-level `default` (MeshTrace, MeshMetric, MeshProxyPatch). */
  default?: Obj;
}

export type Section = 'to' | 'from' | 'rules';

export interface PolicyDefinition {
  name: string;
  plural: string;
  /** Top-level kinds allowed; Kuma's five when absent. */
  topLevel?: readonly TargetRefKind[];
  /** The sections the type has, with the kinds each entry's targetRef may take. */
  to?: readonly TargetRefKind[];
  from?: readonly TargetRefKind[];
  rules?: boolean;
  /** A top-level `default` instead of sections. */
  topDefault?: boolean;
  /** The schema of `default` (an object field) wherever it appears. */
  conf: Extract<Field, { kind: 'object' }>;
  /** Message when a `default` sets nothing (Kuma's wording per type). */
  emptyConf?: string;
  /** Checks beyond the schema on a `default` at `path`. */
  checkConf?(conf: Obj, path: string, causes: Causes, section: Section | 'default'): void;
  /** Checks a `to` entry in place of the generic `{targetRef, default}` (routes: `{targetRef, rules}`). */
  checkToEntry?(entry: Obj, path: string, causes: Causes): void;
  /** Checks on the whole spec after the rest. */
  checkSpec?(spec: Obj, causes: Causes): void;
}

export const ALL_TOP_LEVEL: readonly TargetRefKind[] = ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'Dataplane'];

function checkConf(definition: PolicyDefinition, entry: Obj, path: string, causes: Causes, section: Section | 'default'): void {
  const conf = objectAt(entry, 'default', path, causes, true);
  if (!conf) return;
  const field = at(path, 'default');
  const before = causes.list.length;
  checkField(conf, definition.conf, field, causes);
  if (definition.emptyConf && Object.keys(definition.conf.fields).every((k) => conf[k] === undefined)) causes.add(field, definition.emptyConf);
  if (causes.list.length === before) definition.checkConf?.(conf, field, causes, section);
}

function checkEntries(definition: PolicyDefinition, spec: Obj, section: Section, causes: Causes): void {
  const entries = listAt(spec, section, 'spec', causes, false);
  const kinds = section === 'rules' ? undefined : definition[section];
  entries?.forEach((entry, i) => {
    const path = at(at('spec', section), i);
    if (!isObject(entry)) {
      causes.add(path, 'must be an object');
      return;
    }
    if (section === 'to' && definition.checkToEntry) {
      if (entry.targetRef === undefined) causes.add(at(path, 'targetRef'), 'must be defined');
      else checkTargetRef(entry.targetRef, at(path, 'targetRef'), kinds!, causes);
      definition.checkToEntry(entry, path, causes);
      return;
    }
    checkKnownFields(entry, kinds ? ['targetRef', 'default'] : ['default'], path, causes);
    if (kinds) {
      if (entry.targetRef === undefined) causes.add(at(path, 'targetRef'), 'must be defined');
      else checkTargetRef(entry.targetRef, at(path, 'targetRef'), kinds, causes);
    }
    checkConf(definition, entry, path, causes, section);
  });
}

/** Validates the stored spec `{labels?, spec}` of a targetRef policy; paths as Kuma writes them. */
export function validatePolicy(definition: PolicyDefinition, resource: Obj, causes: Causes): void {
  checkKnownFields(resource, ['labels', 'spec'], '', causes);
  checkLabels(resource, causes);
  const spec = objectAt(resource, 'spec', '', causes, true);
  if (!spec) return;
  const sections: Section[] = [...(definition.to ? ['to' as const] : []), ...(definition.from ? ['from' as const] : []), ...(definition.rules ? ['rules' as const] : [])];
  checkKnownFields(spec, ['targetRef', ...sections, ...(definition.topDefault ? ['default'] : [])], 'spec', causes);
  if (spec.targetRef !== undefined) checkTargetRef(spec.targetRef, 'spec.targetRef', definition.topLevel ?? ALL_TOP_LEVEL, causes);
  const count = (k: string) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).length : 0);
  if (definition.topDefault) {
    checkConf(definition, spec, 'spec', causes, 'default');
  } else if (sections.length === 1) {
    if (count(sections[0]!) === 0) causes.add(at('spec', sections[0]!), 'needs at least one item');
  } else {
    const others = sections.filter((s) => s !== 'rules');
    if (definition.rules && count('rules') > 0 && others.some((s) => count(s) > 0)) {
      causes.add('spec', others.length === 1 ? `field '${others[0]}' must be empty when 'rules' is defined` : `fields ${others.map((s) => `'${s}'`).join(' and ')} must be empty when 'rules' is defined`);
    }
    if (sections.every((s) => count(s) === 0)) {
      const names = (['from', 'to', 'rules'] as const).filter((s) => sections.includes(s)).map((s) => `'${s}'`);
      causes.add('spec', `at least one of ${names.slice(0, -1).join(', ')} or ${names.at(-1)} has to be defined`);
    }
  }
  for (const section of sections) checkEntries(definition, spec, section, causes);
  if (causes.empty) definition.checkSpec?.(spec, causes);
}

/** The merge's view of a valid stored policy. */
export function parsePolicy(type: string, name: string, resource: Obj): TargetRefPolicy {
  const spec = (resource.spec ?? {}) as Obj;
  const entries = (key: string) => (spec[key] as Array<Obj & { targetRef?: TargetRef; default?: Obj }> | undefined) ?? [];
  return {
    type,
    name,
    labels: (resource.labels as Record<string, string> | undefined) ?? {},
    targetRef: (spec.targetRef as TargetRef | undefined) ?? { kind: 'Mesh' },
    to: entries('to').map((e) => ({ ...e, targetRef: e.targetRef!, default: e.default ?? {} })),
    from: [...entries('from').map((e) => ({ targetRef: e.targetRef!, default: e.default ?? {} })), ...entries('rules').map((e) => ({ targetRef: { kind: 'Mesh' as const }, default: e.default ?? {} }))],
    ...(isObject(spec.default) ? { default: spec.default } : {}),
  };
}

const byName = (a: TargetRefPolicy, b: TargetRefPolicy) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * What dataplanes selected by the same policies share: their merged confs, per outbound service
 * and for the inbounds. Kept per policy list (one per mesh snapshot and type) and selection.
 */
interface SharedConfs {
  to: Map<string, Obj | undefined>;
  from?: { conf: Obj | undefined };
}
interface Selection {
  /** The dataplane's name: a Dataplane targetRef selects by name, so the entry is only for it. */
  name: string;
  policies: TargetRefPolicy[];
  confs: SharedConfs;
}
const SELECTIONS = new WeakMap<readonly TargetRefPolicy[], WeakMap<NormalizedDataplane, Selection>>();
const CONFS = new WeakMap<readonly TargetRefPolicy[], Map<string, SharedConfs>>();

/**
 * The policies selecting the dataplane, in merge order (the last wins): least specific top-level
 * targetRef first; within a level, as Kuma's CompareByDisplayName, the lexicographically smaller
 * name last, so `a-policy` overrides `b-policy`. Memoised per policy list and dataplane (both
 * immutable), as every proxy of a mesh asks it once per outbound.
 */
export function selecting<P extends TargetRefPolicy>(policies: readonly P[], name: string, dataplane: NormalizedDataplane): P[] {
  return selection(policies, name, dataplane).policies as P[];
}

function selection(policies: readonly TargetRefPolicy[], name: string, dataplane: NormalizedDataplane): Selection {
  let byDataplane = SELECTIONS.get(policies);
  if (!byDataplane) SELECTIONS.set(policies, (byDataplane = new WeakMap()));
  let known = byDataplane.get(dataplane);
  if (!known || known.name !== name) {
    const selected = policies.filter((p) => selectsDataplane(p.targetRef, name, dataplane)).sort((a, b) => specificity(a.targetRef) - specificity(b.targetRef) || byName(b, a));
    // Dataplanes selected alike share the confs merged from their selection.
    let byNames = CONFS.get(policies);
    if (!byNames) CONFS.set(policies, (byNames = new Map()));
    const names = selected.map((p) => p.name).join('\u0000');
    let confs = byNames.get(names);
    if (!confs) byNames.set(names, (confs = { to: new Map() }));
    known = { name, policies: selected, confs };
    byDataplane.set(dataplane, known);
  }
  return known;
}

/** Whether a `to` entry reaches outbound `service`: targetRef Mesh, or MeshService of that name. */
export const reaches = (entry: PolicyEntry, service: string): boolean => entry.targetRef.kind === 'Mesh' || (entry.targetRef.kind === 'MeshService' && entry.targetRef.name === service);

/**
 * The conf for the dataplane's outbound to `service`: the `to` entries of the selecting policies that
 * reach it, policy by policy in merge order and within a policy in the order written, each
 * `default` merged over the ones before it. Undefined when none applies.
 */
export function outboundConf<C extends object = Obj>(policies: readonly TargetRefPolicy[], name: string, dataplane: NormalizedDataplane, service: string): C | undefined {
  const { policies: selected, confs } = selection(policies, name, dataplane);
  if (confs.to.has(service)) return confs.to.get(service) as C | undefined;
  let conf: Obj | undefined;
  for (const policy of selected) for (const entry of policy.to) if (reaches(entry, service)) conf = mergeConf(conf, entry.default);
  confs.to.set(service, conf);
  return conf as C | undefined;
}

/** The conf for the dataplane's inbounds from every caller: `from` entries targeting Mesh and `rules`. */
export function inboundConf<C extends object = Obj>(policies: readonly TargetRefPolicy[], name: string, dataplane: NormalizedDataplane): C | undefined {
  const { policies: selected, confs } = selection(policies, name, dataplane);
  if (!confs.from) {
    let conf: Obj | undefined;
    for (const policy of selected) for (const entry of policy.from) if (entry.targetRef.kind === 'Mesh') conf = mergeConf(conf, entry.default);
    confs.from = { conf };
  }
  return confs.from.conf as C | undefined;
}

/**
 * Per-caller inbound confs (for `from` entries naming sources): the distinct caller services the
 * entries name, each with the merge of the entries that cover it (Mesh, or that service), and the
 * conf of every other caller (Mesh entries only). Kuma's subset rules, for sources a certificate can
 * prove: the service.
 */
export function inboundConfsBySource<C extends object = Obj>(policies: readonly TargetRefPolicy[], name: string, dataplane: NormalizedDataplane, serviceOfSource: (ref: TargetRef) => string | undefined): { services: Map<string, C>; rest: C | undefined } {
  const ordered = selecting(policies, name, dataplane).flatMap((p) => p.from);
  const named = new Set(ordered.map((e) => serviceOfSource(e.targetRef)).filter((s): s is string => s !== undefined));
  const services = new Map<string, C>();
  for (const service of named) {
    let conf: Obj | undefined;
    for (const entry of ordered) if (entry.targetRef.kind === 'Mesh' || serviceOfSource(entry.targetRef) === service) conf = mergeConf(conf, entry.default);
    services.set(service, conf as C);
  }
  let rest: Obj | undefined;
  for (const entry of ordered) if (entry.targetRef.kind === 'Mesh') rest = mergeConf(rest, entry.default);
  return { services, rest: rest as C | undefined };
}

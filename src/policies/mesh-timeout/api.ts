import { parseDuration } from '../../core/duration.js';
import { at, Causes, checkKnownFields, checkLabels, isObject, listAt, objectAt, type Obj } from '../../core/validate.js';
import { checkTargetRef, type TargetRef, type TargetRefKind } from '../targetref.js';

/**
 * MeshTimeout (Kuma 2.x, `kuma.io/v1alpha1`), Universal form
 * `{type, mesh, name, labels?, spec: {targetRef?, to?, from?, rules?}}`: its schema and validation,
 * as Kuma's `pkg/plugins/policies/meshtimeout/api/v1alpha1` states them.
 */
export interface TimeoutConf {
  connectionTimeout?: string;
  idleTimeout?: string;
  http?: {
    requestTimeout?: string;
    streamIdleTimeout?: string;
    maxStreamDuration?: string;
    maxConnectionDuration?: string;
    requestHeadersTimeout?: string;
  };
}

/** A stored MeshTimeout as the merge reads it. */
export interface MeshTimeoutPolicy {
  name: string;
  targetRef: TargetRef;
  to: Array<{ targetRef: TargetRef; default: TimeoutConf }>;
  /** `from` entries and `rules` (both shape inbounds; rules are Kuma's newer form of from Mesh). */
  from: Array<{ targetRef: TargetRef; default: TimeoutConf }>;
}

const TOP_LEVEL: readonly TargetRefKind[] = ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'Dataplane'];
const TO: readonly TargetRefKind[] = ['Mesh', 'MeshService'];
const FROM: readonly TargetRefKind[] = ['Mesh'];
const HTTP_FIELDS = ['requestTimeout', 'streamIdleTimeout', 'maxStreamDuration', 'maxConnectionDuration', 'requestHeadersTimeout'] as const;

/** Kuma's timeouts are durations that may be 0 ("disabled"); never negative. */
function checkTimeout(value: unknown, path: string, causes: Causes): void {
  if (value === undefined) return;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) causes.add(path, 'must be a duration such as "10s", "1m30s" or "250ms"');
}

function checkDefault(entry: Obj, path: string, causes: Causes): void {
  const conf = objectAt(entry, 'default', path, causes, true);
  const field = at(path, 'default');
  if (!conf) return;
  checkKnownFields(conf, ['connectionTimeout', 'idleTimeout', 'http'], field, causes);
  if (conf.connectionTimeout === undefined && conf.idleTimeout === undefined && conf.http === undefined) {
    causes.add(field, 'at least one timeout should be configured');
    return;
  }
  checkTimeout(conf.connectionTimeout, at(field, 'connectionTimeout'), causes);
  checkTimeout(conf.idleTimeout, at(field, 'idleTimeout'), causes);
  const http = objectAt(conf, 'http', field, causes, false);
  if (!http) return;
  const httpPath = at(field, 'http');
  checkKnownFields(http, HTTP_FIELDS, httpPath, causes);
  if (HTTP_FIELDS.every((f) => http[f] === undefined)) causes.add(httpPath, 'at least one timeout in this section should be configured');
  for (const f of HTTP_FIELDS) checkTimeout(http[f], at(httpPath, f), causes);
}

function checkEntries(spec: Obj, key: 'to' | 'from' | 'rules', allowed: readonly TargetRefKind[] | undefined, causes: Causes): void {
  const list = listAt(spec, key, 'spec', causes, false);
  list?.forEach((entry, i) => {
    const path = at(at('spec', key), i);
    if (!isObject(entry)) {
      causes.add(path, 'must be an object');
      return;
    }
    checkKnownFields(entry, allowed ? ['targetRef', 'default'] : ['default'], path, causes);
    if (allowed) {
      if (entry.targetRef === undefined) causes.add(at(path, 'targetRef'), 'must be defined');
      else checkTargetRef(entry.targetRef, at(path, 'targetRef'), allowed, causes);
    }
    checkDefault(entry, path, causes);
  });
}

/** Validates the stored spec `{labels?, spec}`; field paths as Kuma writes them (`spec.to[0].default.http.requestTimeout`). */
export function validateMeshTimeout(resource: Obj, causes: Causes): void {
  checkKnownFields(resource, ['labels', 'spec'], '', causes);
  checkLabels(resource, causes);
  const spec = objectAt(resource, 'spec', '', causes, true);
  if (!spec) return;
  checkKnownFields(spec, ['targetRef', 'to', 'from', 'rules'], 'spec', causes);
  if (spec.targetRef !== undefined) checkTargetRef(spec.targetRef, 'spec.targetRef', TOP_LEVEL, causes);
  const count = (k: string) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).length : 0);
  if (count('rules') > 0 && (count('to') > 0 || count('from') > 0)) causes.add('spec', "fields 'to' and 'from' must be empty when 'rules' is defined");
  if (count('rules') === 0 && count('to') === 0 && count('from') === 0) causes.add('spec', "at least one of 'from', 'to' or 'rules' has to be defined");
  checkEntries(spec, 'to', TO, causes);
  checkEntries(spec, 'from', FROM, causes);
  checkEntries(spec, 'rules', undefined, causes);
}

/** The merge's view of a valid stored MeshTimeout. */
export function parseMeshTimeout(name: string, resource: Obj): MeshTimeoutPolicy {
  const spec = (resource.spec ?? {}) as Obj;
  const entries = (key: string) => ((spec[key] as Array<{ targetRef?: TargetRef; default: TimeoutConf }> | undefined) ?? []);
  return {
    name,
    targetRef: (spec.targetRef as TargetRef | undefined) ?? { kind: 'Mesh' },
    to: entries('to').map((e) => ({ targetRef: e.targetRef!, default: e.default })),
    from: [...entries('from').map((e) => ({ targetRef: e.targetRef!, default: e.default })), ...entries('rules').map((e) => ({ targetRef: { kind: 'Mesh' as const }, default: e.default }))],
  };
}

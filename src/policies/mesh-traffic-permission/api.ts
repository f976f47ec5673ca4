import { serviceOf, unprovableSourceTags } from '../../core/tags.js';
import type { Causes, Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { list, obj, oneOf, str } from '../schema.js';
import type { TargetRef } from '../targetref.js';

/**
 * MeshTrafficPermission (Kuma 2.x): who may call the selected dataplanes' inbounds. `from` entries
 * name callers by targetRef with an `action`; `rules` (Kuma 2.10+) list SPIFFE ID matches to allow,
 * deny or allow with a shadow deny.
 */
export type Action = 'Allow' | 'Deny' | 'AllowWithShadowDeny';
export interface SpiffeMatch {
  spiffeID: { type: 'Exact' | 'Prefix'; value: string };
}
export interface PermissionConf {
  action?: Action;
  allow?: SpiffeMatch[];
  deny?: SpiffeMatch[];
  allowWithShadowDeny?: SpiffeMatch[];
}

const match = obj({ spiffeID: obj({ type: oneOf('Exact', 'Prefix'), value: str() }, { required: ['type', 'value'] }) }, { required: ['spiffeID'] });

/**
 * The caller service a `from` targetRef names, as a certificate proves it (its SPIFFE ID carries the
 * service, nothing else); undefined for Mesh. Validation refuses sources naming other tags.
 */
export function sourceService(ref: TargetRef): string | undefined {
  if (ref.kind === 'MeshService' || ref.kind === 'MeshServiceSubset') return ref.name;
  if (ref.kind === 'MeshSubset') return serviceOf(ref.tags ?? {});
  return undefined;
}

function checkFromSources(spec: Obj, causes: Causes): void {
  ((spec.from as Array<{ targetRef: TargetRef }> | undefined) ?? []).forEach((entry, i) => {
    const ref = entry.targetRef;
    const path = `spec.from[${i}].targetRef`;
    const unprovable = unprovableSourceTags(ref.tags ?? {});
    // Granting by a tag nobody can prove would admit every caller of the service: refused, never widened.
    if (unprovable.length > 0) causes.add(`${path}.tags`, `only the service tag (kuma.io/service) can be proven by a caller's mesh certificate; cannot authorize on: ${unprovable.join(', ')}`);
    else if (ref.kind === 'MeshSubset' && sourceService(ref) === undefined) causes.add(`${path}.tags`, 'must name the caller service (kuma.io/service): a certificate proves nothing else');
    else if (ref.kind === 'MeshServiceSubset' && ref.tags && serviceOf(ref.tags) !== undefined && serviceOf(ref.tags) !== ref.name) causes.add(`${path}.tags`, 'names another service than name');
  });
}

const SPIFFE = /^spiffe:\/\/[a-z0-9._-]+(\/[^/?#\s]*)*$/i;

export const MESH_TRAFFIC_PERMISSION: PolicyDefinition = {
  name: 'MeshTrafficPermission',
  plural: 'meshtrafficpermissions',
  from: ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset'],
  rules: true,
  conf: obj({ action: oneOf('Allow', 'Deny', 'AllowWithShadowDeny'), allow: list(match), deny: list(match), allowWithShadowDeny: list(match) }),
  checkConf(conf, path, causes, section) {
    if (section === 'from') {
      if (conf.action === undefined) causes.add(`${path}.action`, 'must be defined');
      for (const k of ['allow', 'deny', 'allowWithShadowDeny']) if (conf[k] !== undefined) causes.add(`${path}.${k}`, "is a field of 'rules', not of 'from'");
      return;
    }
    if (conf.action !== undefined) causes.add(`${path}.action`, "is a field of 'from', not of 'rules'");
    const lists = ['allow', 'allowWithShadowDeny', 'deny'] as const;
    if (lists.every((k) => !Array.isArray(conf[k]) || (conf[k] as unknown[]).length === 0)) causes.add(path, "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined");
    for (const k of lists) {
      ((conf[k] as SpiffeMatch[] | undefined) ?? []).forEach((m, i) => {
        if (m.spiffeID.type === 'Exact' && !SPIFFE.test(m.spiffeID.value)) causes.add(`${path}.${k}[${i}].spiffeID.value`, 'must be a valid Spiffe ID');
        if (m.spiffeID.type === 'Prefix' && !m.spiffeID.value.startsWith('spiffe://')) causes.add(`${path}.${k}[${i}].spiffeID.value`, 'must be a SPIFFE ID prefix (spiffe://…)');
      });
    }
  },
  checkSpec: checkFromSources,
};

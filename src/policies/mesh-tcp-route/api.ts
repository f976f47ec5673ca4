import type { Causes, Obj } from '../../core/validate.js';
import { backendRef, type BackendRef } from '../mesh-http-route/api.js';
import type { PolicyDefinition } from '../policy.js';
import { checkField, list, obj } from '../schema.js';

/** MeshTCPRoute (Kuma 2.x): per destination service, one rule of weighted backends for its TCP traffic. */
export interface TcpRouteConf {
  backendRefs?: BackendRef[];
}

const RULE = obj({ default: obj({ backendRefs: list(backendRef, true) }, { required: ['backendRefs'] }) }, { required: ['default'] });

function checkTo(entry: Obj, path: string, causes: Causes): void {
  for (const key of Object.keys(entry)) if (!['targetRef', 'rules'].includes(key)) causes.add(`${path}.${key}`, 'unknown field');
  if (!Array.isArray(entry.rules)) {
    causes.add(`${path}.rules`, entry.rules === undefined ? 'must be defined' : 'must be a list');
    return;
  }
  if (entry.rules.length !== 1) causes.add(`${path}.rules`, 'must have exactly one element');
  entry.rules.forEach((rule, i) => {
    const at = `${path}.rules[${i}]`;
    const before = causes.list.length;
    checkField(rule, RULE, at, causes);
    if (causes.list.length > before) return;
    const refs = (rule as { default: TcpRouteConf }).default.backendRefs!;
    if (refs.every((b) => b.weight === 0)) causes.add(`${at}.default.backendRefs`, 'must have at least one backend with a weight above 0');
    refs.forEach((b, j) => {
      if (b.kind === 'MeshServiceSubset' && !b.tags) causes.add(`${at}.default.backendRefs[${j}].tags`, 'must be set with kind MeshServiceSubset');
    });
  });
}

export const MESH_TCP_ROUTE: PolicyDefinition = {
  name: 'MeshTCPRoute',
  plural: 'meshtcproutes',
  to: ['MeshService'],
  conf: obj({ backendRefs: list(backendRef) }),
  checkToEntry: checkTo,
};

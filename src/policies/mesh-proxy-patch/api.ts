import { parse as parseYaml } from 'yaml';
import type { Causes, Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { any, list, map, obj, oneOf, str, type Schema } from '../schema.js';

/**
 * MeshProxyPatch (Kuma 2.x): modifications of a sidecar's generated clusters, listeners, network
 * and HTTP filters and virtual hosts, by merge (`value`, Envoy proto-JSON/YAML) or JSON Patch.
 */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}
interface Base {
  operation: string;
  value?: string;
  jsonPatches?: JsonPatchOp[];
}
export interface Modification {
  cluster?: Base & { match?: { name?: string; origin?: string } };
  listener?: Base & { match?: { name?: string; origin?: string; tags?: Record<string, string> } };
  networkFilter?: Base & { match?: { name?: string; listenerName?: string; listenerTags?: Record<string, string>; origin?: string } };
  httpFilter?: Base & { match?: { name?: string; listenerName?: string; listenerTags?: Record<string, string>; origin?: string } };
  virtualHost?: Base & { match?: { name?: string; origin?: string; routeConfigurationName?: string } };
}
export interface ProxyPatchConf {
  appendModifications?: Modification[];
}

const jsonPatches = list(obj({ op: oneOf('add', 'remove', 'replace', 'move', 'copy', 'test'), path: str(), from: str(), value: any }, { required: ['op', 'path'] }));
const RESOURCE_OPS = ['Add', 'Patch', 'Remove'];
const FILTER_OPS = ['AddFirst', 'AddLast', 'AddBefore', 'AddAfter', 'Patch', 'Remove'];
const modification = (operations: string[], match: Schema) => obj({ operation: oneOf(...operations), match: obj(match), value: str(), jsonPatches }, { required: ['operation'] });

export const MODIFICATION_KINDS = ['cluster', 'listener', 'networkFilter', 'httpFilter', 'virtualHost'] as const;

function checkModification(m: Modification, path: string, causes: Causes): void {
  const kinds = MODIFICATION_KINDS.filter((k) => m[k] !== undefined);
  if (kinds.length !== 1) {
    causes.add(path, `must have exactly one defined: ${MODIFICATION_KINDS.join(', ')}`);
    return;
  }
  const kind = kinds[0]!;
  const mod = m[kind]! as Base & { match?: Obj };
  const at = `${path}.${kind}`;
  if (mod.value !== undefined) {
    try {
      const parsed = parseYaml(mod.value) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) causes.add(`${at}.value`, 'must be an Envoy object in YAML or JSON');
    } catch (err) {
      causes.add(`${at}.value`, `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const op = mod.operation;
  if (op.startsWith('Add') && mod.value === undefined) causes.add(`${at}.value`, `must be defined with operation ${op}`);
  if (op === 'Patch' && mod.value === undefined && mod.jsonPatches === undefined) causes.add(at, "operation Patch needs 'value' or 'jsonPatches'");
  if (op === 'Patch' && mod.value !== undefined && mod.jsonPatches !== undefined) causes.add(at, "only one of 'value' or 'jsonPatches' can be defined");
  if (op === 'Remove' && (mod.value !== undefined || mod.jsonPatches !== undefined)) causes.add(at, "operation Remove takes neither 'value' nor 'jsonPatches'");
  if ((op === 'AddBefore' || op === 'AddAfter') && !mod.match?.name) causes.add(`${at}.match.name`, `must be defined with operation ${op}`);
  if (kind === 'virtualHost' && op === 'Add' && !mod.match?.routeConfigurationName) causes.add(`${at}.match.routeConfigurationName`, 'must be defined with operation Add');
}

export const MESH_PROXY_PATCH: PolicyDefinition = {
  name: 'MeshProxyPatch',
  plural: 'meshproxypatches',
  topDefault: true,
  conf: obj(
    {
      appendModifications: list(
        obj({
          cluster: modification(RESOURCE_OPS, { name: str(), origin: str() }),
          listener: modification(RESOURCE_OPS, { name: str(), origin: str(), tags: map }),
          networkFilter: modification(FILTER_OPS, { name: str(), listenerName: str(), listenerTags: map, origin: str() }),
          httpFilter: modification(FILTER_OPS, { name: str(), listenerName: str(), listenerTags: map, origin: str() }),
          virtualHost: modification(RESOURCE_OPS, { name: str(), origin: str(), routeConfigurationName: str() }),
        }),
        true,
      ),
    },
    { required: ['appendModifications'] },
  ),
  checkConf(conf, path, causes) {
    ((conf.appendModifications as Modification[]) ?? []).forEach((m, i) => checkModification(m, `${path}.appendModifications[${i}]`, causes));
  },
};

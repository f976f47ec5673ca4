import type { Cause } from './errors.js';
import { checkName } from './names.js';
import { META_FIELDS, TARGET_REF_POLICY_TYPES, type Resource, type ResourceTypeName, type Scope } from './model.js';
import { Causes, isObject, type Obj } from './validate.js';
import { validateDataplane } from './resources/dataplane.js';
import { validateMesh } from './resources/mesh.js';
import {
  validateHealthCheck,
  validateProxyTemplate,
  validateTrafficLog,
  validateTrafficPermission,
  validateTrafficRoute,
} from './resources/policies.js';
import { validateSecret } from './resources/secret.js';
import { validateDataplaneInsight } from './resources/insight.js';
import { POLICY_DEFINITIONS } from '../policies/catalog.js';
import { validatePolicy } from '../policies/policy.js';

/** Everything the API and stores need to know about one resource type. */
export interface ResourceTypeDescriptor {
  name: ResourceTypeName;
  scope: Scope;
  /** REST collection segment: `/meshes/{m}/{plural}` or `/{plural}` for global types. */
  plural: string;
  /** Written only by the control plane (e.g. DataplaneInsight); the API never accepts writes. */
  systemOwned: boolean;
  /** Holds secret material: never logged, and reading it needs the secrets permission. */
  sensitive: boolean;
  validateSpec(spec: Obj, causes: Causes): void;
}

export const RESOURCE_TYPES: readonly ResourceTypeDescriptor[] = [
  { name: 'Mesh', scope: 'global', plural: 'meshes', systemOwned: false, sensitive: false, validateSpec: validateMesh },
  { name: 'GlobalSecret', scope: 'global', plural: 'global-secrets', systemOwned: false, sensitive: true, validateSpec: validateSecret },
  { name: 'Dataplane', scope: 'mesh', plural: 'dataplanes', systemOwned: false, sensitive: false, validateSpec: validateDataplane },
  { name: 'DataplaneInsight', scope: 'mesh', plural: 'dataplane-insights', systemOwned: true, sensitive: false, validateSpec: validateDataplaneInsight },
  { name: 'HealthCheck', scope: 'mesh', plural: 'health-checks', systemOwned: false, sensitive: false, validateSpec: validateHealthCheck },
  { name: 'ProxyTemplate', scope: 'mesh', plural: 'proxytemplates', systemOwned: false, sensitive: false, validateSpec: validateProxyTemplate },
  { name: 'TrafficLog', scope: 'mesh', plural: 'traffic-logs', systemOwned: false, sensitive: false, validateSpec: validateTrafficLog },
  { name: 'TrafficPermission', scope: 'mesh', plural: 'traffic-permissions', systemOwned: false, sensitive: false, validateSpec: validateTrafficPermission },
  { name: 'TrafficRoute', scope: 'mesh', plural: 'traffic-routes', systemOwned: false, sensitive: false, validateSpec: validateTrafficRoute },
  // Kuma 2.x targetRef policies (src/policies/<type>/), under Kuma's plural paths.
  ...TARGET_REF_POLICY_TYPES.map((name): ResourceTypeDescriptor => {
    const definition = POLICY_DEFINITIONS[name];
    return { name, scope: 'mesh', plural: definition.plural, systemOwned: false, sensitive: false, validateSpec: (spec, causes) => validatePolicy(definition, spec, causes) };
  }),
  { name: 'Secret', scope: 'mesh', plural: 'secrets', systemOwned: false, sensitive: true, validateSpec: validateSecret },
];

const BY_NAME = new Map(RESOURCE_TYPES.map((d) => [d.name, d]));

export function descriptorOf(type: ResourceTypeName): ResourceTypeDescriptor {
  return BY_NAME.get(type)!;
}

export function isResourceTypeName(value: unknown): value is ResourceTypeName {
  return typeof value === 'string' && BY_NAME.has(value as ResourceTypeName);
}

export type ValidationResult = { ok: true; resource: Resource } | { ok: false; causes: Cause[] };

/**
 * Validates an API/YAML object of the given type and splits it into key and spec. `expected` is the
 * mesh and name from the URL: the body may omit them but must not contradict them.
 */
export function validateResource(
  descriptor: ResourceTypeDescriptor,
  expected: { mesh: string; name: string },
  body: unknown,
): ValidationResult {
  const causes = new Causes();
  if (!isObject(body)) return { ok: false, causes: [{ field: '', message: 'must be an object' }] };

  if (body.type !== undefined && body.type !== descriptor.name) {
    causes.add('type', `must be "${descriptor.name}" for this path`);
  }
  const nameProblem = checkName(expected.name);
  if (nameProblem) causes.add('name', nameProblem);
  else if (descriptor.name === 'Mesh' && expected.name.includes('.')) {
    // A proxy's node id is `{mesh}.{name}`, split at the first dot: such a mesh could never be served.
    causes.add('name', "a mesh name cannot contain '.': proxies identify themselves as {mesh}.{name}, split at the first dot");
  }
  if (body.name !== undefined && body.name !== expected.name) causes.add('name', 'name from the URL has to be the same as in the body');
  if (body.mesh !== undefined) {
    // A Mesh may name itself as its mesh (Kuma's internal meta does); other global types have none.
    const allowed = descriptor.scope === 'mesh' ? expected.mesh : descriptor.name === 'Mesh' ? expected.name : undefined;
    if (body.mesh !== allowed) {
      causes.add('mesh', allowed === undefined ? `${descriptor.name} is not scoped to a mesh` : 'mesh from the URL has to be the same as in the body');
    }
  }

  const spec: Obj = {};
  for (const [key, value] of Object.entries(body)) {
    if (!(META_FIELDS as readonly string[]).includes(key)) spec[key] = value;
  }
  descriptor.validateSpec(spec, causes);
  if (!causes.empty) return { ok: false, causes: causes.list };
  return {
    ok: true,
    resource: { type: descriptor.name, mesh: descriptor.scope === 'mesh' ? expected.mesh : '', name: expected.name, spec },
  };
}

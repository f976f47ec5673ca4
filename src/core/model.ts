/**
 * The resource model shared by every layer. A resource is Kuma's Universal object
 * `{type, mesh, name, ...spec}`; `spec` is kept exactly as the user wrote it (so it is echoed back
 * in the same form), and readers that need one shape use the normalisers next to each validator.
 */

export type Scope = 'global' | 'mesh';

/** Kuma 2.x targetRef policies (src/policies/<type>/), in the order they apply to generated config. */
export const TARGET_REF_POLICY_TYPES = [
  'MeshTrafficPermission',
  'MeshHTTPRoute',
  'MeshTCPRoute',
  'MeshLoadBalancingStrategy',
  'MeshCircuitBreaker',
  'MeshHealthCheck',
  'MeshTimeout',
  'MeshRetry',
  'MeshFaultInjection',
  'MeshRateLimit',
  'MeshAccessLog',
  'MeshTrace',
  'MeshMetric',
  'MeshProxyPatch',
] as const;
export type TargetRefPolicyType = (typeof TARGET_REF_POLICY_TYPES)[number];

export const RESOURCE_TYPE_NAMES = [
  'Mesh',
  'Dataplane',
  'DataplaneInsight',
  'HealthCheck',
  'ProxyTemplate',
  'TrafficLog',
  'TrafficPermission',
  'TrafficRoute',
  ...TARGET_REF_POLICY_TYPES,
  'Secret',
  'GlobalSecret',
] as const;
export type ResourceTypeName = (typeof RESOURCE_TYPE_NAMES)[number];

/** Identity of a resource: unique per (type, mesh, name). `mesh` is '' for global types. */
export interface ResourceKey {
  type: ResourceTypeName;
  mesh: string;
  name: string;
}

/** A resource to write. `spec` is owned by the caller; stores copy it. */
export interface Resource extends ResourceKey {
  spec: Record<string, unknown>;
}

/**
 * A resource as stored. `version` starts at 1 and grows by one on each update; an update names the
 * version it read and fails with a conflict if another write came first. Times are RFC 3339 UTC.
 * Treat instances as immutable: stores may hand the same object to several readers.
 */
export interface StoredResource extends Resource {
  version: number;
  creationTime: string;
  modificationTime: string;
}

/** Fields of the API object that are not part of `spec`. */
export const META_FIELDS = ['type', 'mesh', 'name', 'creationTime', 'modificationTime'] as const;

/** The API (and YAML file) form: meta fields first, then the spec as written. */
export function toApiObject(resource: StoredResource, scope: Scope): Record<string, unknown> {
  const head: Record<string, unknown> = { type: resource.type };
  if (scope === 'mesh') head.mesh = resource.mesh;
  head.name = resource.name;
  head.creationTime = resource.creationTime;
  head.modificationTime = resource.modificationTime;
  return { ...head, ...resource.spec };
}

import type { TargetRefPolicyType } from '../core/model.js';
import { MESH_TIMEOUT } from './mesh-timeout/api.js';
import { MESH_RETRY } from './mesh-retry/api.js';
import { MESH_CIRCUIT_BREAKER } from './mesh-circuit-breaker/api.js';
import type { PolicyDefinition } from './policy.js';

/** Every targetRef policy type's definition (schema, sections, plural path), by type. */
export const POLICY_DEFINITIONS: Readonly<Record<TargetRefPolicyType, PolicyDefinition>> = {
  MeshTimeout: MESH_TIMEOUT,
  MeshRetry: MESH_RETRY,
  MeshCircuitBreaker: MESH_CIRCUIT_BREAKER,
};

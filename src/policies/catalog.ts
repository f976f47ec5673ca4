import type { TargetRefPolicyType } from '../core/model.js';
import { MESH_TIMEOUT } from './mesh-timeout/api.js';
import { MESH_RETRY } from './mesh-retry/api.js';
import { MESH_CIRCUIT_BREAKER } from './mesh-circuit-breaker/api.js';
import { MESH_TRAFFIC_PERMISSION } from './mesh-traffic-permission/api.js';
import { MESH_HEALTH_CHECK } from './mesh-health-check/api.js';
import { MESH_FAULT_INJECTION } from './mesh-fault-injection/api.js';
import { MESH_RATE_LIMIT } from './mesh-rate-limit/api.js';
import { MESH_LOAD_BALANCING_STRATEGY } from './mesh-load-balancing-strategy/api.js';
import { MESH_ACCESS_LOG } from './mesh-access-log/api.js';
import { MESH_PROXY_PATCH } from './mesh-proxy-patch/api.js';
import { MESH_TRACE } from './mesh-trace/api.js';
import { MESH_METRIC } from './mesh-metric/api.js';
import { MESH_HTTP_ROUTE } from './mesh-http-route/api.js';
import { MESH_TCP_ROUTE } from './mesh-tcp-route/api.js';
import type { PolicyDefinition } from './policy.js';

/** Every targetRef policy type's definition (schema, sections, plural path), by type. */
export const POLICY_DEFINITIONS: Readonly<Record<TargetRefPolicyType, PolicyDefinition>> = {
  MeshTimeout: MESH_TIMEOUT,
  MeshRetry: MESH_RETRY,
  MeshCircuitBreaker: MESH_CIRCUIT_BREAKER,
  MeshTrafficPermission: MESH_TRAFFIC_PERMISSION,
  MeshHealthCheck: MESH_HEALTH_CHECK,
  MeshFaultInjection: MESH_FAULT_INJECTION,
  MeshRateLimit: MESH_RATE_LIMIT,
  MeshLoadBalancingStrategy: MESH_LOAD_BALANCING_STRATEGY,
  MeshAccessLog: MESH_ACCESS_LOG,
  MeshProxyPatch: MESH_PROXY_PATCH,
  MeshTrace: MESH_TRACE,
  MeshMetric: MESH_METRIC,
  MeshHTTPRoute: MESH_HTTP_ROUTE,
  MeshTCPRoute: MESH_TCP_ROUTE,
};

import { TARGET_REF_POLICY_TYPES, type TargetRefPolicyType } from '../core/model.js';
import type { MeshSnapshot } from '../core/mesh-snapshot.js';
import type { GeneratedResource, ProxyContext } from '../xds/generators/types.js';
import { applyMeshTimeouts } from './mesh-timeout/xds.js';
import { applyMeshRetries } from './mesh-retry/xds.js';
import { applyMeshCircuitBreakers } from './mesh-circuit-breaker/xds.js';
import { applyMeshTrafficPermissions } from './mesh-traffic-permission/xds.js';
import { applyMeshHealthChecks } from './mesh-health-check/xds.js';
import { applyMeshFaultInjections } from './mesh-fault-injection/xds.js';
import { applyMeshRateLimits } from './mesh-rate-limit/xds.js';
import { applyMeshLoadBalancingStrategies } from './mesh-load-balancing-strategy/xds.js';
import { applyMeshAccessLogs } from './mesh-access-log/xds.js';
import { applyMeshProxyPatches } from './mesh-proxy-patch/xds.js';
import { applyMeshTraces } from './mesh-trace/xds.js';
import { applyMeshMetrics } from './mesh-metric/xds.js';
import { applyMeshHttpRoutes } from './mesh-http-route/xds.js';
import { applyMeshTcpRoutes } from './mesh-tcp-route/xds.js';
import { Edits } from './edits.js';
import { selecting } from './policy.js';

/**
 * The targetRef policies (Kuma 2.x), one folder each: `api.ts` (schema and validation, core
 * level) and `xds.ts` (what it changes in generated resources). The generators produce the base
 * configuration; each policy type then applies itself, in the order of TARGET_REF_POLICY_TYPES.
 */
type Apply = (edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot) => void;
const APPLY: Readonly<Record<TargetRefPolicyType, Apply>> = {
  MeshTimeout: applyMeshTimeouts,
  MeshRetry: applyMeshRetries,
  MeshCircuitBreaker: applyMeshCircuitBreakers,
  MeshTrafficPermission: applyMeshTrafficPermissions,
  MeshHealthCheck: applyMeshHealthChecks,
  MeshFaultInjection: applyMeshFaultInjections,
  MeshRateLimit: applyMeshRateLimits,
  MeshLoadBalancingStrategy: applyMeshLoadBalancingStrategies,
  MeshAccessLog: applyMeshAccessLogs,
  MeshProxyPatch: applyMeshProxyPatches,
  MeshTrace: applyMeshTraces,
  MeshMetric: applyMeshMetrics,
  MeshHTTPRoute: applyMeshHttpRoutes,
  MeshTCPRoute: applyMeshTcpRoutes,
};

export function applyPolicies(resources: GeneratedResource[], proxy: ProxyContext, mesh: MeshSnapshot): GeneratedResource[] {
  if (mesh.targetRefPolicies.size === 0) return resources;
  const edits = new Edits(resources);
  for (const type of TARGET_REF_POLICY_TYPES) if (mesh.targetRefPolicies.has(type)) APPLY[type](edits, proxy, mesh);
  return edits.resources;
}

/** Proxyless dataplanes share snapshots only when the same policies select them. */
export function policySelectionKey(mesh: MeshSnapshot, proxy: Pick<ProxyContext, 'dataplane'>): string {
  if (mesh.targetRefPolicies.size === 0) return '';
  const { name, dataplane } = proxy.dataplane;
  return [...mesh.targetRefPolicies].map(([type, policies]) => `${type}:${selecting(policies, name, dataplane).map((p) => p.name).join(',')}`).join(';');
}

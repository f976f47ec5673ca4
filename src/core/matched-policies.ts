import type { DataplaneEntry, MeshSnapshot } from './mesh-snapshot.js';
import { selectConnectionPolicy, selectDataplanePolicy } from './policy-matching.js';
import { matchesSelector } from './tags.js';
import { reaches, selecting } from '../policies/policy.js';
import type { TargetRefPolicyType } from './model.js';

/** A policy that shapes a dataplane's configuration, and where it attaches. */
export interface MatchedPolicy {
  type: 'TrafficRoute' | 'HealthCheck' | 'TrafficLog' | 'TrafficPermission' | 'ProxyTemplate' | TargetRefPolicyType;
  name: string;
  attachment: { type: 'outbound'; service: string } | { type: 'inbound'; service: string } | { type: 'dataplane' };
}

/**
 * The policies the generated configuration of `dataplane` uses, chosen by the same rules as the
 * generators: per outbound the most specific TrafficRoute, HealthCheck and TrafficLog; per
 * inbound every TrafficPermission whose destinations match it; the most specific ProxyTemplate.
 */
export function matchedPolicies(mesh: MeshSnapshot, dataplane: DataplaneEntry): MatchedPolicy[] {
  const out: MatchedPolicy[] = [];
  const sourceTags = dataplane.dataplane.inbound.map((i) => i.tags);
  const services = [...new Set(dataplane.dataplane.outbound.map((o) => o.service))];
  for (const service of services) {
    const destination = { 'kuma.io/service': service };
    const attachment = { type: 'outbound' as const, service };
    const route = selectConnectionPolicy(mesh.trafficRoutes, sourceTags, destination);
    if (route) out.push({ type: 'TrafficRoute', name: route.name, attachment });
    const check = selectConnectionPolicy(mesh.healthChecks, sourceTags, destination);
    if (check) out.push({ type: 'HealthCheck', name: check.name, attachment });
    const log = selectConnectionPolicy(mesh.trafficLogs, sourceTags, destination);
    if (log) out.push({ type: 'TrafficLog', name: log.name, attachment });
  }
  for (const inbound of dataplane.dataplane.inbound) {
    for (const permission of mesh.trafficPermissions) {
      if (permission.destinations.some((d) => matchesSelector(d, inbound.tags))) out.push({ type: 'TrafficPermission', name: permission.name, attachment: { type: 'inbound', service: inbound.service } });
    }
  }
  const template = selectDataplanePolicy(mesh.proxyTemplates, sourceTags);
  if (template) out.push({ type: 'ProxyTemplate', name: template.name, attachment: { type: 'dataplane' } });
  // Kuma 2.x policies selecting the dataplane (per type in merge order): an outbound attachment per
  // service a `to` entry of theirs reaches, an inbound one when they have `from` or `rules`, a
  // dataplane one for a top-level `default`.
  for (const [type, policies] of mesh.targetRefPolicies) {
    for (const policy of selecting(policies, dataplane.name, dataplane.dataplane)) {
      for (const service of services) if (policy.to.some((e) => reaches(e, service))) out.push({ type, name: policy.name, attachment: { type: 'outbound', service } });
      if (policy.from.length > 0) for (const inbound of dataplane.dataplane.inbound) out.push({ type, name: policy.name, attachment: { type: 'inbound', service: inbound.service } });
      if (policy.default) out.push({ type, name: policy.name, attachment: { type: 'dataplane' } });
    }
  }
  return out;
}

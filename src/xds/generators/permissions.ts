import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { matchesSelector, serviceOf, unprovableSourceTags, type Tags } from '../../core/tags.js';

/**
 * TrafficPermission as an Envoy network RBAC filter on an mTLS inbound: allow the SPIFFE IDs of the
 * source services of every permission whose destinations match the inbound's tags; no match, no
 * policy, so everything is denied (Kuma's default with mTLS on). `*` allows any identity of the
 * mesh. A source selector that names tags a certificate cannot prove (anything but the service,
 * see `unprovableSourceTags`) admits nobody: admission refuses such selectors, and one stored
 * before that rule must not be widened to "every caller of that service".
 */
export function rbacFilter(mesh: MeshSnapshot, inboundTags: Tags, statPrefix: string) {
  return {
    name: 'envoy.filters.network.rbac',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', stat_prefix: statPrefix, rules: { action: 'ALLOW', policies: permittedPolicies(mesh, inboundTags) } },
  };
}

/** The RBAC policies (one per TrafficPermission that selects the inbound) that allow its callers. */
export function permittedPolicies(mesh: MeshSnapshot, inboundTags: Tags): Record<string, unknown> {
  const policies: Record<string, unknown> = {};
  for (const permission of mesh.trafficPermissions) {
    if (!permission.destinations.some((d) => matchesSelector(d, inboundTags))) continue;
    const principals = permission.sources.flatMap((source) => {
      const service = serviceOf(source);
      if (service === undefined || unprovableSourceTags(source).length > 0) return [];
      const name: Record<string, string> = service === '*' ? { prefix: `spiffe://${mesh.mesh}/` } : { exact: `spiffe://${mesh.mesh}/${service}` };
      return [{ authenticated: { principal_name: name } }];
    });
    if (principals.length > 0) policies[permission.name] = { permissions: [{ any: true }], principals };
  }
  return policies;
}

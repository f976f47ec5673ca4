import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { matchesSelector, SERVICE_TAGS, type Tags } from '../../core/tags.js';

/**
 * TrafficPermission as an Envoy network RBAC filter on an mTLS inbound: allow the SPIFFE IDs of the
 * source services of every permission whose destinations match the inbound's tags; no match, no
 * policy, so everything is denied (Kuma's default with mTLS on). A source selector's other tags
 * cannot be authenticated (an X509-SVID carries one SPIFFE ID, the service), so only its service
 * counts; `*` allows any identity of the mesh.
 */
export function rbacFilter(mesh: MeshSnapshot, inboundTags: Tags, statPrefix: string) {
  const policies: Record<string, unknown> = {};
  for (const permission of mesh.trafficPermissions) {
    if (!permission.destinations.some((d) => matchesSelector(d, inboundTags))) continue;
    const principals = permission.sources.map((source) => {
      const service = SERVICE_TAGS.map((k) => source[k]).find((v) => v !== undefined) ?? '*';
      return service === '*'
        ? { authenticated: { principal_name: { prefix: `spiffe://${mesh.mesh}/` } } }
        : { authenticated: { principal_name: { exact: `spiffe://${mesh.mesh}/${service}` } } };
    });
    policies[permission.name] = { permissions: [{ any: true }], principals };
  }
  return {
    name: 'envoy.filters.network.rbac',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', stat_prefix: statPrefix, rules: { action: 'ALLOW', policies } },
  };
}

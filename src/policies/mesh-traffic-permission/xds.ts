import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { inboundListenerName } from '../../xds/generators/inbound.js';
import { proxylessServerListenerNames } from '../../xds/generators/proxyless-server.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, filtersOf, hcmOf, type Json } from '../edits.js';
import { inboundConfsBySource, selecting } from '../policy.js';
import { sourceService, type Action, type PermissionConf, type SpiffeMatch } from './api.js';

const principal = (name: Json): Json => ({ authenticated: { principal_name: name } });
const ofMatch = (m: SpiffeMatch): Json => principal(m.spiffeID.type === 'Exact' ? { exact: m.spiffeID.value } : { prefix: m.spiffeID.value });
const anyOf = (ids: Json[]): Json => (ids.length === 1 ? ids[0]! : { or_ids: { ids } });
const allOf = (ids: Json[]): Json => (ids.length === 1 ? ids[0]! : { and_ids: { ids } });

/**
 * The RBAC rules (action ALLOW: what no policy allows is denied, Kuma's default with mTLS on) for
 * callers decided, in this order: a `rules` deny match denies; a `rules` allow match allows; then
 * the caller's service's `from` action, or the action for every other caller (`from` Mesh). With
 * `shadow`, AllowWithShadowDeny counts as Deny: the shadow rules tell what would be denied.
 */
function rbacRules(mesh: string, services: ReadonlyMap<string, PermissionConf>, rest: PermissionConf | undefined, shadow: boolean): Json {
  const allowed = (a: Action | undefined) => a === 'Allow' || (!shadow && a === 'AllowWithShadowDeny');
  const deny = [...(rest?.deny ?? []), ...(shadow ? (rest?.allowWithShadowDeny ?? []) : [])].map(ofMatch);
  const allow = [...(rest?.allow ?? []), ...(shadow ? [] : (rest?.allowWithShadowDeny ?? []))].map(ofMatch);
  const notDenied = deny.length > 0 ? [{ not_id: anyOf(deny) }] : [];
  const service = (s: string) => principal({ exact: `spiffe://${mesh}/${s}` });
  const policies: Json = {};
  if (allow.length > 0) policies['MeshTrafficPermission/rules'] = { permissions: [{ any: true }], principals: [allOf([anyOf(allow), ...notDenied])] };
  for (const [name, conf] of services) {
    if (allowed(conf.action)) policies[`MeshTrafficPermission/from/${name}`] = { permissions: [{ any: true }], principals: [allOf([service(name), ...notDenied])] };
  }
  if (allowed(rest?.action)) {
    // Every identity of the mesh but the services decided by their own entries.
    const others = [...services.keys()].map(service);
    policies['MeshTrafficPermission/from/Mesh'] = {
      permissions: [{ any: true }],
      principals: [allOf([principal({ prefix: `spiffe://${mesh}/` }), ...(others.length > 0 ? [{ not_id: anyOf(others) }] : []), ...notDenied])],
    };
  }
  return { action: 'ALLOW', policies };
}

function setRules(filter: Json | undefined, rules: Json, shadowRules: Json): void {
  if (!filter?.typed_config) return;
  filter.typed_config.rules = rules;
  // Only when it differs: a shadow that equals the rules tells nothing.
  if (JSON.stringify(rules) !== JSON.stringify(shadowRules)) filter.typed_config.shadow_rules = shadowRules;
  else delete filter.typed_config.shadow_rules;
}

/**
 * Applies the MeshTrafficPermissions selecting the proxy to the RBAC of its mTLS inbounds. Where
 * one selects it, it replaces what the legacy TrafficPermissions would allow (the successor wins).
 */
export function applyMeshTrafficPermissions(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  if (!mesh.mtls) return;
  const policies = policiesOf(mesh, 'MeshTrafficPermission');
  const { name, dataplane } = proxy.dataplane;
  if (selecting(policies, name, dataplane).length === 0) return;
  const { services, rest } = inboundConfsBySource<PermissionConf>(policies, name, dataplane, sourceService);
  const rules = rbacRules(mesh.mesh, services, rest, false);
  const shadowRules = rbacRules(mesh.mesh, services, rest, true);
  for (const inbound of dataplane.inbound) {
    if (proxy.proxyless) {
      for (const listenerName of proxylessServerListenerNames(inbound)) {
        edits.edit(TYPE_URLS.listener, listenerName, (l) => setRules((hcmOf(l)?.http_filters as Json[] | undefined)?.find((f) => f.name === 'envoy.filters.http.rbac'), rules, shadowRules));
      }
    } else {
      edits.edit(TYPE_URLS.listener, inboundListenerName(inbound.address, inbound.port), (l) => setRules(filtersOf(l).find((f) => f.name === 'envoy.filters.network.rbac'), rules, shadowRules));
    }
  }
  return;
}

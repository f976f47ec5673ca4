import { policiesOf, type MeshSnapshot } from '../../core/mesh-snapshot.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import { isHttp } from '../../xds/generators/envoy.js';
import { outboundRouteName } from '../../xds/generators/outbound.js';
import { subsetClusterName } from '../../xds/generators/routing.js';
import { serviceResources } from '../../xds/generators/service.js';
import type { ProxyContext } from '../../xds/generators/types.js';
import { TYPE_URLS } from '../../xds/resources.js';
import { Edits, type Json, outboundServices } from '../edits.js';
import { envoyHeaderMatcher } from '../envoy-match.js';
import type { BackendRef, Filter, HeaderModifier, Match } from './api.js';
import { httpRoutes, type RouteEntry } from './rules.js';

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };
const fraction = (p: number | string | undefined) => ({ default_value: { numerator: Math.round(Number(p ?? 100) * 10_000), denominator: 'MILLION' } });

type Flavour = 'sidecar' | 'proxyless';

function envoyMatch(m: Match, flavour: Flavour): Json {
  const out: Json = {};
  const path = m.path;
  if (!path) out.prefix = flavour === 'proxyless' ? '' : '/';
  else if (path.type === 'Exact') out.path = path.value;
  else if (path.type === 'RegularExpression') out.safe_regex = { regex: path.value };
  else if (path.value === '/') out.prefix = flavour === 'proxyless' ? '' : '/';
  // gRPC has no path_separated_prefix (gRFC A28); its method paths always have the separator.
  else if (flavour === 'proxyless') out.prefix = `${path.value}/`;
  else out.path_separated_prefix = path.value;
  const headers = [...(m.method && flavour === 'sidecar' ? [{ name: ':method', string_match: { exact: m.method } }] : []), ...(m.headers ?? []).map(envoyHeaderMatcher)];
  if (headers.length > 0) out.headers = headers;
  if (m.queryParams?.length) out.query_parameters = m.queryParams.map((q) => ({ name: q.name, string_match: q.type === 'Exact' ? { exact: q.value } : { safe_regex: { regex: q.value } } }));
  return out;
}

const clusterOf = (ref: BackendRef) => subsetClusterName(ref.name, ref.kind === 'MeshServiceSubset' ? (ref.tags ?? {}) : {});

function headerOptions(mod: HeaderModifier): Json[] {
  return [
    ...(mod.set ?? []).map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...(mod.add ?? []).map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
}

/** The Envoy route of one entry; undefined where a gRPC client has no equivalent (redirects, query or non-POST method matches). */
function envoyRoute(entry: RouteEntry, service: string, flavour: Flavour): Json | undefined {
  const { match, conf } = entry;
  const filters = conf.filters ?? [];
  if (flavour === 'proxyless' && (match.queryParams?.length || (match.method && match.method !== 'POST') || filters.some((f) => f.type === 'RequestRedirect'))) return undefined;
  const route: Json = { match: envoyMatch(match, flavour) };
  const byType = <T extends Filter['type']>(type: T) => filters.filter((f) => f.type === type);
  const redirect = byType('RequestRedirect')[0]?.requestRedirect;
  if (redirect) {
    route.redirect = {
      ...(redirect.scheme ? { scheme_redirect: redirect.scheme } : {}),
      ...(redirect.hostname ? { host_redirect: redirect.hostname } : {}),
      ...(redirect.port ? { port_redirect: redirect.port } : {}),
      ...(redirect.path?.type === 'ReplaceFullPath' ? { path_redirect: redirect.path.replaceFullPath } : {}),
      ...(redirect.path?.type === 'ReplacePrefixMatch' ? { prefix_rewrite: redirect.path.replacePrefixMatch } : {}),
      response_code: REDIRECT_CODES[redirect.statusCode ?? 302],
    };
  } else {
    const refs = conf.backendRefs ?? [{ kind: 'MeshService' as const, name: service }];
    const action: Json = refs.length === 1 ? { cluster: clusterOf(refs[0]!) } : { weighted_clusters: { clusters: refs.map((r) => ({ name: clusterOf(r), weight: { value: r.weight ?? 1 } })) } };
    if (flavour === 'sidecar') {
      const rewrite = byType('URLRewrite')[0]?.urlRewrite;
      if (rewrite?.hostname) action.host_rewrite_literal = rewrite.hostname;
      if (rewrite?.path?.type === 'ReplacePrefixMatch') action.prefix_rewrite = rewrite.path.replacePrefixMatch;
      if (rewrite?.path?.type === 'ReplaceFullPath') action.regex_rewrite = { pattern: { regex: '^.*$' }, substitution: rewrite.path.replaceFullPath };
      const mirrors = byType('RequestMirror').map((f) => ({ cluster: clusterOf(f.requestMirror!.backendRef), runtime_fraction: fraction(f.requestMirror!.percentage) }));
      if (mirrors.length > 0) action.request_mirror_policies = mirrors;
    }
    route.route = action;
  }
  if (flavour === 'sidecar') {
    const request = byType('RequestHeaderModifier').map((f) => f.requestHeaderModifier!);
    const response = byType('ResponseHeaderModifier').map((f) => f.responseHeaderModifier!);
    if (request.length) route.request_headers_to_add = request.flatMap(headerOptions);
    if (request.some((m) => m.remove?.length)) route.request_headers_to_remove = request.flatMap((m) => m.remove ?? []);
    if (response.length) route.response_headers_to_add = response.flatMap(headerOptions);
    if (response.some((m) => m.remove?.length)) route.response_headers_to_remove = response.flatMap((m) => m.remove ?? []);
    for (const key of ['request_headers_to_add', 'response_headers_to_add']) if (Array.isArray(route[key]) && route[key].length === 0) delete route[key];
  }
  return route;
}

/** Every backend a route sends to or mirrors to. */
const refsOf = (routes: readonly RouteEntry[], service: string): BackendRef[] =>
  routes.flatMap((r) => [...(r.conf.backendRefs ?? [{ kind: 'MeshService' as const, name: service }]), ...(r.conf.filters ?? []).filter((f) => f.type === 'RequestMirror').map((f) => f.requestMirror!.backendRef)]);

/**
 * Applies the MeshHTTPRoutes selecting the proxy: the route configuration of each HTTP outbound
 * they name is replaced by their routes (the successor of TrafficRoute wins), with a last route
 * sending what no rule matches to the service itself, as Kuma does; the clusters the routes use
 * are added. Proxyless gRPC clients get matches on path and headers and weighted backends.
 */
export function applyMeshHttpRoutes(edits: Edits, proxy: ProxyContext, mesh: MeshSnapshot): void {
  const policies = policiesOf(mesh, 'MeshHTTPRoute');
  const { name, dataplane } = proxy.dataplane;
  const flavour: Flavour = proxy.proxyless ? 'proxyless' : 'sidecar';
  const sourceTags = dataplane.inbound.map((i) => i.tags);
  for (const service of outboundServices(proxy, mesh)) {
    if (!isHttp(mesh.protocols.get(service) ?? 'tcp')) continue;
    const routes = httpRoutes(policies, name, dataplane, service);
    if (!routes) continue;
    const catchAll = routes.some((r) => Object.keys(r.match).length === 0 || (r.match.path?.type === 'PathPrefix' && r.match.path.value === '/' && Object.keys(r.match).length === 1));
    const all = catchAll ? routes : [...routes, { match: {}, conf: {}, origins: [] }];
    const routeName = proxy.proxyless ? service : outboundRouteName(service);
    edits.replace(TYPE_URLS.route, routeName, () => ({
      name: routeName,
      virtual_hosts: [{ name: service, domains: ['*'], routes: all.map((r) => envoyRoute(r, service, flavour)).filter((r): r is Json => r !== undefined) }],
    }));
    for (const ref of refsOf(all, service)) {
      const subset = ref.kind === 'MeshServiceSubset' ? (ref.tags ?? {}) : {};
      if (edits.get(TYPE_URLS.cluster, subsetClusterName(ref.name, subset))) continue;
      const healthCheck = proxy.proxyless ? undefined : selectConnectionPolicy(mesh.healthChecks, sourceTags, { 'kuma.io/service': ref.name });
      for (const r of serviceResources(mesh, ref.name, subset, healthCheck, flavour)) edits.add(r);
    }
  }
  return;
}

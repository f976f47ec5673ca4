import type { Causes, Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { checkField, int, list, obj, oneOf, str } from '../schema.js';
import { headerMatch } from '../mesh-retry/api.js';

/**
 * MeshHTTPRoute (Kuma 2.x): per destination service, rules of matches (path, method, headers,
 * query parameters) with filters and weighted backends, per Kuma's `meshhttproute/api/v1alpha1`.
 */
export interface PathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}
export interface Match {
  path?: PathMatch;
  method?: string;
  headers?: Array<{ type?: string; name: string; value?: string }>;
  queryParams?: Array<{ type: 'Exact' | 'RegularExpression'; name: string; value: string }>;
}
export interface BackendRef {
  kind: 'MeshService' | 'MeshServiceSubset';
  name: string;
  tags?: Record<string, string>;
  weight?: number;
  port?: number;
}
export interface HeaderModifier {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}
export interface PathRewrite {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}
export interface Filter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestRedirect' | 'URLRewrite' | 'RequestMirror';
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  requestRedirect?: { scheme?: 'http' | 'https'; hostname?: string; path?: PathRewrite; port?: number; statusCode?: 301 | 302 | 303 | 307 | 308 };
  urlRewrite?: { hostname?: string; path?: PathRewrite; hostToBackendHostname?: boolean };
  requestMirror?: { backendRef: BackendRef; percentage?: number | string };
}
export interface RouteConf {
  filters?: Filter[];
  backendRefs?: BackendRef[];
}
export interface Rule {
  matches?: Match[];
  default: RouteConf;
}

export const METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'];
const pair = obj({ name: str(), value: str(false) }, { required: ['name', 'value'] });
const headerModifier = obj({ set: list(pair), add: list(pair), remove: list(str()) }, { atLeastOne: true });
export const backendRef = obj({ kind: oneOf('MeshService', 'MeshServiceSubset'), name: str(), tags: { kind: 'map' }, weight: int(0), port: int(1, 65535) }, { required: ['kind', 'name'] });
const pathRewrite = obj({ type: oneOf('ReplaceFullPath', 'ReplacePrefixMatch'), replaceFullPath: str(false), replacePrefixMatch: str(false) }, { required: ['type'] });
const MATCH = obj({
  path: obj({ type: oneOf('Exact', 'PathPrefix', 'RegularExpression'), value: str() }, { required: ['type', 'value'] }),
  method: oneOf(...METHODS),
  headers: list(headerMatch),
  queryParams: list(obj({ type: oneOf('Exact', 'RegularExpression'), name: str(), value: str(false) }, { required: ['type', 'name', 'value'] })),
});
const FILTER = obj(
  {
    type: oneOf('RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'),
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestRedirect: obj({ scheme: oneOf('http', 'https'), hostname: str(), path: pathRewrite, port: int(1, 65535), statusCode: { kind: 'int', min: 301, max: 308 } }),
    urlRewrite: obj({ hostname: str(), path: pathRewrite, hostToBackendHostname: { kind: 'bool' } }),
    requestMirror: obj({ backendRef, percentage: { kind: 'decimal', min: 0, max: 100 } }, { required: ['backendRef'] }),
  },
  { required: ['type'] },
);
const CONF = obj({ filters: list(FILTER), backendRefs: list(backendRef) });

const FILTER_FIELD: Record<Filter['type'], keyof Filter> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
};

function checkMatch(m: Match, path: string, causes: Causes): void {
  if (m.path?.type === 'PathPrefix' && m.path.value !== '/' && m.path.value.endsWith('/')) causes.add(`${path}.path.value`, 'does not need a trailing slash because only a `/`-separated prefix or an entire path is matched');
  if (m.path && m.path.type !== 'RegularExpression' && !m.path.value.startsWith('/')) causes.add(`${path}.path.value`, 'must be an absolute path');
  (m.headers ?? []).forEach((h, i) => {
    if ((h.type === 'Present' || h.type === 'Absent') && h.value !== undefined) causes.add(`${path}.headers[${i}].value`, 'must not be defined');
    if (h.type !== 'Present' && h.type !== 'Absent' && h.value === undefined) causes.add(`${path}.headers[${i}].value`, 'must be defined');
  });
  const names = (m.queryParams ?? []).map((q) => q.name);
  names.forEach((n, i) => names.indexOf(n) !== i && causes.add(`${path}.queryParams[${i}]`, `multiple entries for name ${n}`));
}

function checkRule(rule: Obj, path: string, causes: Causes): void {
  const r = rule as unknown as Rule;
  (r.matches ?? []).forEach((m, i) => checkMatch(m, `${path}.matches[${i}]`, causes));
  const allPrefix = (r.matches ?? []).length > 0 && r.matches!.every((m) => m.path?.type === 'PathPrefix');
  (r.default.filters ?? []).forEach((f, i) => {
    const at = `${path}.default.filters[${i}]`;
    const field = FILTER_FIELD[f.type];
    if (f[field] === undefined) causes.add(`${at}.${field}`, 'must be defined');
    for (const other of Object.values(FILTER_FIELD)) if (other !== field && f[other] !== undefined) causes.add(`${at}.${other}`, `must not be defined with type ${f.type}`);
    for (const [kind, rewrite] of [['requestRedirect', f.requestRedirect?.path], ['urlRewrite', f.urlRewrite?.path]] as const) {
      if (rewrite?.type === 'ReplacePrefixMatch' && !allPrefix) causes.add(`${at}.${kind}.path.replacePrefixMatch`, 'can only appear if all matches match a path prefix');
      if (rewrite?.type === 'ReplacePrefixMatch' && rewrite.replacePrefixMatch === undefined) causes.add(`${at}.${kind}.path.replacePrefixMatch`, 'must be defined');
      if (rewrite?.type === 'ReplaceFullPath' && rewrite.replaceFullPath === undefined) causes.add(`${at}.${kind}.path.replaceFullPath`, 'must be defined');
    }
    if (f.urlRewrite?.hostToBackendHostname) causes.add(`${at}.urlRewrite.hostToBackendHostname`, 'can only be set with MeshGateway');
    if (f.requestRedirect?.statusCode !== undefined && ![301, 302, 303, 307, 308].includes(f.requestRedirect.statusCode)) causes.add(`${at}.requestRedirect.statusCode`, 'must be one of: 301, 302, 303, 307, 308');
  });
  const refs = r.default.backendRefs;
  if (refs !== undefined && refs.length === 0) causes.add(`${path}.default.backendRefs`, 'must not be empty');
  if (refs && refs.length > 0 && refs.every((b) => b.weight === 0)) causes.add(`${path}.default.backendRefs`, 'must have at least one backend with a weight above 0');
  refs?.forEach((b, i) => {
    if (b.kind === 'MeshServiceSubset' && !b.tags) causes.add(`${path}.default.backendRefs[${i}].tags`, 'must be set with kind MeshServiceSubset');
    if (b.kind === 'MeshService' && b.tags) causes.add(`${path}.default.backendRefs[${i}].tags`, 'must not be set with kind MeshService');
  });
}

/** A `to` entry: `{targetRef: MeshService, rules: [{matches?, default: {filters?, backendRefs?}}]}`. */
function checkTo(entry: Obj, path: string, causes: Causes): void {
  for (const key of Object.keys(entry)) if (!['targetRef', 'rules', 'hostnames'].includes(key)) causes.add(`${path}.${key}`, 'unknown field');
  if (entry.hostnames !== undefined) causes.add(`${path}.hostnames`, 'must not be defined (MeshGateway only)');
  if (!Array.isArray(entry.rules)) {
    causes.add(`${path}.rules`, entry.rules === undefined ? 'must be defined' : 'must be a list');
    return;
  }
  entry.rules.forEach((rule, i) => {
    const at = `${path}.rules[${i}]`;
    const before = causes.list.length;
    checkField(rule, obj({ matches: list(MATCH), default: CONF }, { required: ['default'] }), at, causes);
    if (causes.list.length === before) checkRule(rule as Obj, at, causes);
  });
}

export const MESH_HTTP_ROUTE: PolicyDefinition = {
  name: 'MeshHTTPRoute',
  plural: 'meshhttproutes',
  to: ['MeshService'],
  conf: CONF,
  checkToEntry: checkTo,
};

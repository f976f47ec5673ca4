import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { parseDuration } from '../../core/duration.js';
import { checkName } from '../../core/names.js';
import { parseCidr } from '../cidrs.js';
import { Causes, isObject, type Obj } from '../../core/validate.js';

/**
 * The parameters of Vault's Kubernetes auth method (`/auth/kubernetes/config` and roles), read
 * the way Vault reads them (lists as arrays or comma-separated strings, TTLs as seconds or
 * duration strings, booleans also as "true"/"false") and checked field by field.
 */

/** The stored configuration; `token_reviewer_jwt` is a credential and is never read back. */
export interface KubernetesAuthConfig {
  kubernetes_host: string;
  kubernetes_ca_cert: string;
  token_reviewer_jwt: string;
  pem_keys: string[];
  disable_local_ca_jwt: boolean;
  issuer: string;
  disable_iss_validation: boolean;
}

export interface KubernetesRole {
  bound_service_account_names: string[];
  bound_service_account_namespaces: string[];
  audience: string;
  alias_name_source: 'serviceaccount_uid' | 'serviceaccount_name';
  /** Seconds; 0 = unset. */
  token_ttl: number;
  token_max_ttl: number;
  token_explicit_max_ttl: number;
  token_period: number;
  token_policies: string[];
  token_bound_cidrs: string[];
  token_no_default_policy: boolean;
  token_num_uses: number;
  token_type: '' | 'default' | 'service' | 'batch';
  /** What a login grants (our fields): a dataplane token of this mesh... */
  mesh: string;
  /** ...bound to this service (`kuma.io/service`), these tags and/or this dataplane name. Templates allowed. */
  service: string;
  tags: Record<string, string[]>;
  dataplane_name: string;
}

/** Local credentials of a control plane running in a pod (used unless `disable_local_ca_jwt`). */
export const LOCAL_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
export const LOCAL_JWT_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Placeholders a role's grant may use, filled from the logged-in service account. */
export const TEMPLATE_VARIABLES = ['service_account_name', 'service_account_namespace', 'service_account_uid', 'pod_name'] as const;
const TEMPLATE = /\{\{\s*([a-z_]+)\s*\}\}/g;

function strings(value: unknown, field: string, causes: Causes): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list || list.some((v) => typeof v !== 'string')) {
    causes.add(field, 'must be a list of strings or a comma-separated string');
    return undefined;
  }
  return (list as string[]).map((v) => v.trim()).filter((v) => v !== '');
}

function bool(value: unknown, field: string, causes: Causes): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  causes.add(field, 'must be a boolean');
  return undefined;
}

function str(value: unknown, field: string, causes: Causes): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    causes.add(field, 'must be a string');
    return undefined;
  }
  return value;
}

/** Seconds from an integer or a duration string ("1h", "30m", "90s"); Vault's TTL fields. */
function seconds(value: unknown, field: string, causes: Causes): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms < 0) {
    causes.add(field, 'must be a number of seconds or a duration such as "1h"');
    return undefined;
  }
  return Math.floor(ms / 1000);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** The public keys of `pem_keys` entries: RSA or ECDSA public keys, or certificates (their key). */
export function publicKeysOf(pemKeys: readonly string[]): KeyObject[] {
  return pemKeys.flatMap((pem) => [...pem.matchAll(PEM_BLOCK)].map((m) => keyOf(m[0], m[1]!)));
}

function keyOf(block: string, label: string): KeyObject {
  const key = label === 'CERTIFICATE' ? new X509Certificate(block).publicKey : createPublicKey(block);
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key is neither RSA nor ECDSA`);
  return key;
}

function checkPemKeys(value: unknown, causes: Causes): string[] {
  const list = value === undefined || value === null ? [] : typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!list) {
    causes.add('pem_keys', 'must be a list of PEM public keys or certificates');
    return [];
  }
  const out: string[] = [];
  list.forEach((entry, i) => {
    const field = `pem_keys[${i}]`;
    if (typeof entry !== 'string' || [...entry.matchAll(PEM_BLOCK)].length === 0) return causes.add(field, 'must be a PEM-encoded public key or certificate');
    try {
      publicKeysOf([entry]);
      out.push(entry);
    } catch (err) {
      causes.add(field, `is not a usable RSA or ECDSA public key or certificate: ${(err as Error).message}`);
    }
  });
  return out;
}

function checkCaCert(value: string, causes: Causes): void {
  const blocks = [...value.matchAll(PEM_BLOCK)];
  if (blocks.length === 0 || blocks.some((b) => b[1] !== 'CERTIFICATE')) return causes.add('kubernetes_ca_cert', 'must be one or more PEM-encoded certificates');
  for (const b of blocks) {
    try {
      new X509Certificate(b[0]);
    } catch (err) {
      return causes.add('kubernetes_ca_cert', `is not a valid certificate: ${(err as Error).message}`);
    }
  }
}

/** `host`, `host:port` or a URL to the API server's base, as an https URL without trailing slash. */
export function normalizeHost(host: string): string | undefined {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `https://${host}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash) return undefined;
  return url.href.replace(/\/+$/, '');
}

const CONFIG_FIELDS = ['kubernetes_host', 'kubernetes_ca_cert', 'token_reviewer_jwt', 'pem_keys', 'disable_local_ca_jwt', 'issuer', 'disable_iss_validation'];

/**
 * `POST /auth/kubernetes/config`: the whole configuration (fields not given take their defaults).
 * `localCredentials` says whether this process runs in a pod (the local CA and JWT exist).
 */
export function parseConfig(body: unknown, localCredentials: boolean): { ok: true; config: KubernetesAuthConfig } | { ok: false; causes: Causes } {
  const causes = new Causes();
  if (!isObject(body)) {
    causes.add('', 'must be a JSON object');
    return { ok: false, causes };
  }
  for (const key of Object.keys(body)) if (!CONFIG_FIELDS.includes(key)) causes.add(key, 'unknown field');
  const host = str(body.kubernetes_host, 'kubernetes_host', causes) ?? '';
  if (host.trim() === '') causes.add('kubernetes_host', 'no host provided: a host, host:port or https URL of the Kubernetes API server');
  else if (!normalizeHost(host.trim())) causes.add('kubernetes_host', 'must be a host, host:port or https:// URL (TokenReview carries bearer tokens, so plain http is refused)');
  const caCert = str(body.kubernetes_ca_cert, 'kubernetes_ca_cert', causes) ?? '';
  if (caCert !== '') checkCaCert(caCert, causes);
  const reviewer = str(body.token_reviewer_jwt, 'token_reviewer_jwt', causes) ?? '';
  if (/\s/.test(reviewer.trim()) || reviewer.length > 16 * 1024) causes.add('token_reviewer_jwt', 'must be a single bearer token');
  const pemKeys = checkPemKeys(body.pem_keys, causes);
  const disableLocal = bool(body.disable_local_ca_jwt, 'disable_local_ca_jwt', causes) ?? false;
  const issuer = str(body.issuer, 'issuer', causes) ?? '';
  const disableIss = bool(body.disable_iss_validation, 'disable_iss_validation', causes) ?? true;
  if (causes.empty && caCert === '' && pemKeys.length === 0 && (disableLocal || !localCredentials)) {
    causes.add('kubernetes_ca_cert', 'one of kubernetes_ca_cert or pem_keys must be set when not running in a Kubernetes pod');
  }
  if (!causes.empty) return { ok: false, causes };
  return {
    ok: true,
    config: { kubernetes_host: host.trim(), kubernetes_ca_cert: caCert, token_reviewer_jwt: reviewer.trim(), pem_keys: pemKeys, disable_local_ca_jwt: disableLocal, issuer, disable_iss_validation: disableIss },
  };
}

/** `GET /auth/kubernetes/config`: everything but the credential. */
export function publicConfig(config: KubernetesAuthConfig): Obj {
  return {
    kubernetes_host: config.kubernetes_host,
    kubernetes_ca_cert: config.kubernetes_ca_cert,
    pem_keys: config.pem_keys,
    disable_local_ca_jwt: config.disable_local_ca_jwt,
    issuer: config.issuer,
    disable_iss_validation: config.disable_iss_validation,
    token_reviewer_jwt_set: config.token_reviewer_jwt !== '',
  };
}

const ROLE_FIELDS = [
  'bound_service_account_names', 'bound_service_account_namespaces', 'audience', 'alias_name_source',
  'token_ttl', 'token_max_ttl', 'token_explicit_max_ttl', 'token_period', 'token_policies', 'token_bound_cidrs',
  'token_no_default_policy', 'token_num_uses', 'token_type',
  // Vault's deprecated spellings, read into their token_* fields
  'ttl', 'max_ttl', 'period', 'policies', 'bound_cidrs', 'num_uses',
  'mesh', 'service', 'tags', 'dataplane_name',
];
const LEGACY: Record<string, string> = { ttl: 'token_ttl', max_ttl: 'token_max_ttl', period: 'token_period', policies: 'token_policies', bound_cidrs: 'token_bound_cidrs', num_uses: 'token_num_uses' };

export const EMPTY_ROLE: KubernetesRole = {
  bound_service_account_names: [], bound_service_account_namespaces: [], audience: '', alias_name_source: 'serviceaccount_uid',
  token_ttl: 0, token_max_ttl: 0, token_explicit_max_ttl: 0, token_period: 0, token_policies: [], token_bound_cidrs: [],
  token_no_default_policy: false, token_num_uses: 0, token_type: '', mesh: 'default', service: '', tags: {}, dataplane_name: '',
};

function checkTemplate(value: string, field: string, causes: Causes): void {
  for (const m of value.matchAll(TEMPLATE)) {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(m[1]!)) causes.add(field, `unknown placeholder {{${m[1]}}}; use one of ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`);
  }
}

/** Fills a role's grant template from the service account that logged in. */
export function fillTemplate(value: string, vars: Record<(typeof TEMPLATE_VARIABLES)[number], string>): string {
  return value.replace(TEMPLATE, (_m, name: string) => vars[name as keyof typeof vars] ?? '');
}

/**
 * `POST /auth/kubernetes/role/:name`: creates, or updates the fields given of, a role (Vault's
 * semantics). Returns the role and Vault's warnings, or every problem with its field.
 */
export function parseRole(body: unknown, existing: KubernetesRole | undefined): { ok: true; role: KubernetesRole; warnings: string[] } | { ok: false; causes: Causes } {
  const causes = new Causes();
  if (!isObject(body)) {
    causes.add('', 'must be a JSON object');
    return { ok: false, causes };
  }
  for (const key of Object.keys(body)) if (!ROLE_FIELDS.includes(key)) causes.add(key, 'unknown field');
  const input: Obj = { ...body };
  for (const [legacy, current] of Object.entries(LEGACY)) {
    if (input[legacy] === undefined) continue;
    if (input[current] !== undefined) causes.add(legacy, `use either ${legacy} (deprecated) or ${current}, not both`);
    input[current] = input[legacy];
  }
  const role: KubernetesRole = structuredClone(existing ?? EMPTY_ROLE);

  const names = strings(input.bound_service_account_names, 'bound_service_account_names', causes);
  if (names) role.bound_service_account_names = names;
  if (role.bound_service_account_names.length === 0) causes.add('bound_service_account_names', '"bound_service_account_names" can not be empty');
  else if (role.bound_service_account_names.length > 1 && role.bound_service_account_names.includes('*')) causes.add('bound_service_account_names', 'can not mix "*" with values');

  const namespaces = strings(input.bound_service_account_namespaces, 'bound_service_account_namespaces', causes);
  if (namespaces) role.bound_service_account_namespaces = namespaces;
  if (role.bound_service_account_namespaces.length === 0) causes.add('bound_service_account_namespaces', '"bound_service_account_namespaces" can not be empty');
  else if (role.bound_service_account_namespaces.length > 1 && role.bound_service_account_namespaces.includes('*')) causes.add('bound_service_account_namespaces', 'can not mix "*" with values');

  const audience = str(input.audience, 'audience', causes);
  if (audience !== undefined) role.audience = audience.trim();
  const alias = str(input.alias_name_source, 'alias_name_source', causes);
  if (alias !== undefined) {
    if (alias === 'serviceaccount_uid' || alias === 'serviceaccount_name') role.alias_name_source = alias;
    else if (alias !== '') causes.add('alias_name_source', 'must be one of: serviceaccount_uid, serviceaccount_name');
  }

  for (const key of ['token_ttl', 'token_max_ttl', 'token_explicit_max_ttl', 'token_period'] as const) {
    const v = seconds(input[key], sentName(key, body), causes);
    if (v !== undefined) role[key] = v;
  }
  if (role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl) causes.add(sentName('token_ttl', body), 'token ttl should not be greater than token max ttl');

  const policies = strings(input.token_policies, sentName('token_policies', body), causes);
  if (policies) role.token_policies = policies.map((p) => p.toLowerCase());

  const cidrs = strings(input.token_bound_cidrs, sentName('token_bound_cidrs', body), causes);
  if (cidrs) {
    cidrs.forEach((c, i) => {
      if (!parseCidr(c)) causes.add(`${sentName('token_bound_cidrs', body)}[${i}]`, `"${c}" is not an IP address or CIDR block`);
    });
    role.token_bound_cidrs = cidrs;
  }

  const noDefault = bool(input.token_no_default_policy, 'token_no_default_policy', causes);
  if (noDefault !== undefined) role.token_no_default_policy = noDefault;

  if (input.token_num_uses !== undefined) {
    const uses = input.token_num_uses;
    if (typeof uses !== 'number' || !Number.isInteger(uses) || uses < 0) causes.add(sentName('token_num_uses', body), 'must be a non-negative integer');
    else if (uses !== 0) causes.add(sentName('token_num_uses', body), 'must be 0: a dataplane token is a stateless JWT, so its uses cannot be counted');
    else role.token_num_uses = 0;
  }

  const type = str(input.token_type, 'token_type', causes);
  if (type !== undefined) {
    if (type === '' || type === 'default' || type === 'service' || type === 'batch') role.token_type = type;
    else causes.add('token_type', 'must be one of: service, batch, default ("default-service" and "default-batch" are for token store roles)');
  }

  const mesh = str(input.mesh, 'mesh', causes);
  if (mesh !== undefined) {
    const problem = checkName(mesh);
    if (problem) causes.add('mesh', problem);
    else role.mesh = mesh;
  }
  const service = str(input.service, 'service', causes);
  if (service !== undefined) {
    checkTemplate(service, 'service', causes);
    role.service = service;
  }
  const dataplaneName = str(input.dataplane_name, 'dataplane_name', causes);
  if (dataplaneName !== undefined) {
    checkTemplate(dataplaneName, 'dataplane_name', causes);
    role.dataplane_name = dataplaneName;
  }
  if (input.tags !== undefined) {
    const tags: Record<string, string[]> = {};
    if (!isObject(input.tags)) causes.add('tags', 'must map each tag to a value or a list of values');
    else {
      for (const [key, value] of Object.entries(input.tags)) {
        const values = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '') ? (value as string[]) : undefined;
        if (!values || values.length === 0 || key === '') causes.add(`tags.${key}`, 'must be a non-empty value or list of values');
        else {
          values.forEach((v) => checkTemplate(v, `tags.${key}`, causes));
          tags[key] = values;
        }
      }
    }
    role.tags = tags;
  }

  if (!causes.empty) return { ok: false, causes };
  const warnings = role.audience === '' ? ['This role does not specify an audience: any service account token of the bound names and namespaces is accepted, whatever its audience.'] : [];
  return { ok: true, role, warnings };
}

/** The field name the caller used (a deprecated alias or the token_* one), so causes point at what was sent. */
function sentName(current: string, body: Obj): string {
  const legacy = Object.keys(LEGACY).find((k) => LEGACY[k] === current);
  return legacy && body[legacy] !== undefined ? legacy : current;
}

/** `GET /auth/kubernetes/role/:name`: the role as Vault reads it back, deprecated aliases included. */
export function roleView(role: KubernetesRole): Obj {
  return {
    ...role,
    token_type: role.token_type === '' ? 'default' : role.token_type,
    ttl: role.token_ttl,
    max_ttl: role.token_max_ttl,
    period: role.token_period,
    policies: role.token_policies,
    num_uses: role.token_num_uses,
    bound_cidrs: role.token_bound_cidrs,
  };
}

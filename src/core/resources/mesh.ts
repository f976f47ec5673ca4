import {
  at,
  Causes,
  checkKnownFields,
  checkLabels,
  checkString,
  isObject,
  listAt,
  objectAt,
  type Obj,
} from '../validate.js';
import { parseDuration } from '../duration.js';

const MESH_FIELDS = ['mtls', 'tracing', 'logging', 'metrics', 'networking', 'routing', 'constraints', 'skipCreatingInitialPolicies', 'meshServices', 'labels'];
const CA_TYPES = ['builtin', 'provided'];
const MTLS_MODES = ['STRICT', 'PERMISSIVE'];

/** Kuma 0.3: `mtls: {enabled, ca: {builtin: {}} | {provided: {}}}`. */
function validateLegacyMtls(mtls: Obj, causes: Causes): void {
  if (mtls.enabled !== undefined && typeof mtls.enabled !== 'boolean') causes.add('mtls.enabled', 'must be a boolean');
  const ca = objectAt(mtls, 'ca', 'mtls', causes, mtls.enabled === true);
  if (!ca) return;
  const kinds = Object.keys(ca);
  if (mtls.enabled === true && kinds.length !== 1) causes.add('mtls.ca', 'must have exactly one of builtin or provided');
  for (const kind of kinds) if (!CA_TYPES.includes(kind)) causes.add(at('mtls.ca', kind), 'unknown CA type: must be builtin or provided');
}

/** Current Kuma: `mtls: {enabledBackend, backends: [{name, type, mode, dpCert, conf}]}`. */
function validateBackendMtls(mtls: Obj, causes: Causes): void {
  const backends = listAt(mtls, 'backends', 'mtls', causes, false) ?? [];
  const names = new Set<string>();
  backends.forEach((backend, i) => {
    const path = `mtls.backends[${i}]`;
    if (!isObject(backend)) return causes.add(path, 'must be an object');
    checkKnownFields(backend, ['name', 'type', 'mode', 'dpCert', 'conf', 'rootChain'], path, causes);
    if (checkString(backend.name, at(path, 'name'), causes)) {
      if (names.has(backend.name)) causes.add(at(path, 'name'), `"${backend.name}" is already used by another backend`);
      names.add(backend.name);
    }
    if (!CA_TYPES.includes(backend.type as string)) causes.add(at(path, 'type'), 'must be one of: builtin, provided');
    if (backend.mode !== undefined && !MTLS_MODES.includes(backend.mode as string)) {
      causes.add(at(path, 'mode'), 'must be one of: STRICT, PERMISSIVE');
    }
    const expiration = ((backend.dpCert as Obj | undefined)?.rotation as Obj | undefined)?.expiration;
    if (expiration !== undefined && (typeof expiration !== 'string' || !parseDuration(expiration))) {
      causes.add(at(path, 'dpCert.rotation.expiration'), 'must be a duration such as "24h"');
    }
    if (backend.type === 'builtin' && isObject(backend.conf) && isObject(backend.conf.caCert) && backend.conf.caCert.RSAbits !== undefined) {
      const bits = backend.conf.caCert.RSAbits;
      if (!Number.isInteger(bits) || (bits as number) < 2048 || (bits as number) > 8192) causes.add(at(path, 'conf.caCert.RSAbits'), 'must be an integer from 2048 to 8192');
    }
    if (backend.type === 'provided') {
      const conf = objectAt(backend, 'conf', path, causes, true);
      if (conf) {
        objectAt(conf, 'cert', at(path, 'conf'), causes, true);
        objectAt(conf, 'key', at(path, 'conf'), causes, true);
      }
    }
  });
  if (mtls.enabledBackend !== undefined && mtls.enabledBackend !== '') {
    if (typeof mtls.enabledBackend !== 'string' || !names.has(mtls.enabledBackend)) {
      causes.add('mtls.enabledBackend', 'has to be set to one of the backends in the mesh');
    }
  }
}

/** Logging/tracing backends: names unique and non-empty; `defaultBackend` names one of them. */
function validateBackendList(section: Obj, path: string, causes: Causes): void {
  const backends = listAt(section, 'backends', path, causes, false) ?? [];
  const names = new Set<string>();
  backends.forEach((backend, i) => {
    const p = `${path}.backends[${i}]`;
    if (!isObject(backend)) return causes.add(p, 'must be an object');
    if (checkString(backend.name, at(p, 'name'), causes)) {
      if (names.has(backend.name)) causes.add(at(p, 'name'), `"${backend.name}" is already used by another backend`);
      names.add(backend.name);
    }
  });
  const def = section.defaultBackend;
  if (def !== undefined && def !== '' && (typeof def !== 'string' || !names.has(def))) {
    causes.add(at(path, 'defaultBackend'), 'has to be set to one of the backends');
  }
}

export function validateMesh(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, MESH_FIELDS, '', causes);
  checkLabels(spec, causes);
  const skip = spec.skipCreatingInitialPolicies;
  if (skip !== undefined && (!Array.isArray(skip) || skip.some((s) => typeof s !== 'string' || s === ''))) {
    causes.add('skipCreatingInitialPolicies', 'must be a list of policy types, or ["*"] for all');
  }
  const mtls = objectAt(spec, 'mtls', '', causes, false);
  if (mtls) {
    const legacy = mtls.ca !== undefined || mtls.enabled !== undefined;
    const current = mtls.backends !== undefined || mtls.enabledBackend !== undefined;
    if (legacy && current) causes.add('mtls', 'use either enabled/ca (Kuma 0.3) or enabledBackend/backends, not both');
    else if (legacy) {
      checkKnownFields(mtls, ['enabled', 'ca'], 'mtls', causes);
      validateLegacyMtls(mtls, causes);
    } else {
      checkKnownFields(mtls, ['enabledBackend', 'backends', 'skipValidation'], 'mtls', causes);
      validateBackendMtls(mtls, causes);
    }
  }
  for (const key of ['logging', 'tracing', 'metrics'] as const) {
    const section = objectAt(spec, key, '', causes, false);
    if (section) validateBackendList(section, key, causes);
    if (section && key === 'logging') validateLoggingTargets(section, causes);
  }
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * A logging backend's destination, in either form (`file: {path}` / `tcp: {address}` or
 * `type` + `conf`): a TCP address must be `host:port`, a file path non-empty, since the generated
 * Envoy config and the access log forwarder depend on them.
 */
function validateLoggingTargets(section: Obj, causes: Causes): void {
  const backends = Array.isArray(section.backends) ? section.backends : [];
  backends.forEach((backend: unknown, i: number) => {
    if (!isObject(backend)) return;
    const p = `logging.backends[${i}]`;
    const conf = isObject(backend.conf) ? backend.conf : {};
    const tcp = isObject(backend.tcp) ? { value: backend.tcp.address, field: at(p, 'tcp.address') } : backend.type === 'tcp' ? { value: conf.address, field: at(p, 'conf.address') } : undefined;
    const file = isObject(backend.file) ? { value: backend.file.path, field: at(p, 'file.path') } : backend.type === 'file' ? { value: conf.path, field: at(p, 'conf.path') } : undefined;
    if (tcp) {
      const m = typeof tcp.value === 'string' ? HOST_PORT.exec(tcp.value) : null;
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) causes.add(tcp.field, 'must be an address of the form host:port');
    }
    if (file && (typeof file.value !== 'string' || file.value === '')) causes.add(file.field, 'must be a non-empty path');
  });
}

/** The enabled mTLS backend of a Mesh, in either form. */
export interface MtlsBackend {
  name: string;
  type: 'builtin' | 'provided';
  /** Lifetime of dataplane certificates (`dpCert.rotation.expiration`, default 24h). */
  certValidityMs: number;
  /** The backend's `conf` as written (a provided CA names its secrets there). */
  conf: Obj;
}

/**
 * The key a builtin backend's CA is generated with: RSA of `conf.caCert.RSAbits` when the backend
 * asks for it (as Kuma's does), else ECDSA P-256 (docs/architecture.md: faster to sign with).
 */
export type CaKeyType = 'P-256' | { rsaBits: number };
export function builtinCaKeyType(backend: MtlsBackend): CaKeyType {
  const bits = isObject(backend.conf.caCert) ? backend.conf.caCert.RSAbits : undefined;
  return typeof bits === 'number' ? { rsaBits: bits } : 'P-256';
}

const DEFAULT_CERT_VALIDITY_MS = 24 * 3600_000;

/** Whether a Mesh spec has mTLS on, and with which CA backend; undefined when it is off. */
export function meshMtlsBackend(spec: Obj): MtlsBackend | undefined {
  const mtls = spec.mtls as Obj | undefined;
  if (!mtls) return undefined;
  if (mtls.enabled === true) {
    // Kuma 0.3 had one unnamed CA per mesh; it is "ca-1" here, as in Kuma's migration.
    const ca = (mtls.ca as Obj | undefined) ?? {};
    const type = Object.keys(ca)[0] === 'provided' ? 'provided' : 'builtin';
    return { name: 'ca-1', type, certValidityMs: DEFAULT_CERT_VALIDITY_MS, conf: (ca[type] as Obj | undefined) ?? {} };
  }
  if (typeof mtls.enabledBackend === 'string' && mtls.enabledBackend !== '') {
    const backend = ((mtls.backends as Obj[] | undefined) ?? []).find((b) => b.name === mtls.enabledBackend);
    if (!backend) return undefined;
    const expiration = ((backend.dpCert as Obj | undefined)?.rotation as Obj | undefined)?.expiration;
    return {
      name: backend.name as string,
      type: backend.type === 'provided' ? 'provided' : 'builtin',
      certValidityMs: (typeof expiration === 'string' ? parseDuration(expiration) : undefined) ?? DEFAULT_CERT_VALIDITY_MS,
      conf: (backend.conf as Obj | undefined) ?? {},
    };
  }
  return undefined;
}

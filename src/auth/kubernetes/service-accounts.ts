import { request as httpsRequest } from 'node:https';
import type { KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { CLOCK_TOLERANCE_S } from '../jwt.js';
import type { KubernetesAuthConfig, KubernetesRole } from './params.js';

/**
 * Service-account JWTs as Kubernetes issues them, in both shapes: legacy secret-based tokens
 * (`kubernetes.io/serviceaccount/namespace`, `.../service-account.name`, `.../service-account.uid`,
 * `.../secret.name`, issuer `kubernetes/serviceaccount`, no expiry) and projected tokens (`aud`,
 * `exp`, and `kubernetes.io: {namespace, serviceaccount: {name, uid}, pod: {name, uid}}`).
 */

/** A login that must be refused; `status` is the HTTP status, `message` safe to show (never the token). */
export class LoginRefused extends Error {
  constructor(
    readonly status: 400 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'LoginRefused';
  }
}

export interface ServiceAccount {
  name: string;
  namespace: string;
  uid: string;
  secretName: string;
  podName: string;
  audiences: string[];
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
export const MAX_SERVICE_ACCOUNT_JWT_BYTES = 16 * 1024;
/** The algorithms Kubernetes signs service-account tokens with (as Vault accepts them). */
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS = ['ES256', 'ES384', 'ES512'];
export const DEFAULT_ISSUER = 'kubernetes/serviceaccount';

/** Whether a token looks like a Kubernetes service-account token (rather than one of ours). */
export function isServiceAccountToken(token: string): boolean {
  try {
    const claims = decodeJwt(token);
    return claims['kubernetes.io'] !== undefined || claims['kubernetes.io/serviceaccount/namespace'] !== undefined;
  } catch {
    return false;
  }
}

function serviceAccountOf(claims: JWTPayload): ServiceAccount {
  const projected = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown; uid?: unknown }; pod?: { name?: unknown } } | undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const aud = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (projected && typeof projected === 'object') {
    return {
      namespace: text(projected.namespace),
      name: text(projected.serviceaccount?.name),
      uid: text(projected.serviceaccount?.uid),
      secretName: '',
      podName: text(projected.pod?.name),
      audiences: aud,
    };
  }
  return {
    namespace: text(claims['kubernetes.io/serviceaccount/namespace']),
    name: text(claims['kubernetes.io/serviceaccount/service-account.name']),
    uid: text(claims['kubernetes.io/serviceaccount/service-account.uid']),
    secretName: text(claims['kubernetes.io/serviceaccount/secret.name']),
    podName: '',
    audiences: aud,
  };
}

/** Vault's glob: `*` matches any run of characters. */
function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

const listAllows = (list: readonly string[], value: string) => list[0] === '*' || list.some((p) => globMatch(p, value));

/**
 * Reads and checks a service-account JWT against the configuration and a role: its signature
 * against `pem_keys` when there are any (else the TokenReview that must follow checks it), the
 * issuer when validation is on, expiry when present, the role's audience, names and namespaces.
 */
export async function parseAndValidate(jwt: string, role: KubernetesRole, config: KubernetesAuthConfig, keys: readonly KeyObject[]): Promise<ServiceAccount> {
  if (Buffer.byteLength(jwt) > MAX_SERVICE_ACCOUNT_JWT_BYTES) throw new LoginRefused(403, 'service account token is too large');
  if (!COMPACT_JWS.test(jwt)) throw new LoginRefused(403, 'service account token is not a compact JWS (alg "none" and unsigned tokens are refused)');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(jwt);
    claims = decodeJwt(jwt);
  } catch {
    throw new LoginRefused(403, 'service account token cannot be decoded');
  }
  const alg = String(header.alg ?? '');
  if (![...RSA_ALGS, ...EC_ALGS].includes(alg)) throw new LoginRefused(403, `service account token algorithm "${alg}" is not allowed`);
  if (header.crit !== undefined) throw new LoginRefused(403, 'service account token has critical headers this server does not understand');

  if (keys.length > 0) {
    const usable = keys.filter((k) => (k.asymmetricKeyType === 'ec' ? EC_ALGS : RSA_ALGS).includes(alg));
    let verified = false;
    for (const key of usable) {
      try {
        await jwtVerify(jwt, key, { algorithms: [alg], clockTolerance: CLOCK_TOLERANCE_S });
        verified = true;
        break;
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw new LoginRefused(403, 'service account token has expired');
        if (err instanceof joseErrors.JWTClaimValidationFailed) throw new LoginRefused(403, `service account token claim "${err.claim}" is invalid`);
        // a signature that does not verify with this key: try the next configured key
      }
    }
    if (!verified) throw new LoginRefused(403, 'service account token signature does not verify with any of pem_keys');
  } else {
    // Checked here for a clear message; the TokenReview that follows verifies the signature.
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp === 'number' && claims.exp + CLOCK_TOLERANCE_S < now) throw new LoginRefused(403, 'service account token has expired');
    if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_TOLERANCE_S > now) throw new LoginRefused(403, 'service account token is not valid yet');
  }

  if (!config.disable_iss_validation) {
    const expected = config.issuer || DEFAULT_ISSUER;
    if (claims.iss !== expected) throw new LoginRefused(403, `invalid issuer (iss) claim: expected "${expected}"`);
  }
  const sa = serviceAccountOf(claims);
  if (role.audience !== '' && !sa.audiences.includes(role.audience)) {
    throw new LoginRefused(403, 'invalid audience (aud) claim: audience claim does not match any expected audience');
  }
  if (!sa.name || !sa.namespace || !sa.uid) throw new LoginRefused(403, 'the token does not name a service account (namespace, name and uid claims are required)');
  if (!listAllows(role.bound_service_account_names, sa.name)) throw new LoginRefused(403, `service account name not authorized: "${sa.name}" is not in bound_service_account_names`);
  if (!listAllows(role.bound_service_account_namespaces, sa.namespace)) throw new LoginRefused(403, `namespace not authorized: "${sa.namespace}" is not in bound_service_account_namespaces`);
  return sa;
}

export interface TokenReviewTarget {
  /** The API server base URL (https). */
  host: string;
  /** PEM CA bundle; the system trust store when empty. */
  ca: string;
  /** Bearer token of the reviewer. */
  bearer: string;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  user?: { username?: string; uid?: string };
}

/**
 * Asks the Kubernetes TokenReview API whether `jwt` is a live token and checks that it names the
 * same service account (name, namespace, uid) as its claims. Any failure, including TLS, refuses
 * the login with a reason that never carries a token.
 */
export async function reviewToken(target: TokenReviewTarget, jwt: string, sa: ServiceAccount, audiences: string[]): Promise<void> {
  const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: jwt, ...(audiences.length ? { audiences } : {}) } });
  const url = new URL(`${target.host}/apis/authentication.k8s.io/v1/tokenreviews`);
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        ca: target.ca || undefined,
        headers: { authorization: `Bearer ${target.bearer}`, 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 1024 * 1024) text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', reject);
    req.end(body);
  }).catch((err: Error) => {
    throw new LoginRefused(403, `lookup failed: the TokenReview request to ${url.origin} failed: ${err.message}`);
  });
  if (answer.status === 401 || answer.status === 403) {
    throw new LoginRefused(403, `lookup failed: the Kubernetes API refused the TokenReview (${answer.status}); check token_reviewer_jwt and its RBAC (system:auth-delegator)`);
  }
  if (answer.status !== 200 && answer.status !== 201) throw new LoginRefused(403, `lookup failed: the Kubernetes API answered the TokenReview with status ${answer.status}`);
  let status: TokenReviewStatus;
  try {
    status = ((JSON.parse(answer.text) as { status?: TokenReviewStatus }).status ?? {}) as TokenReviewStatus;
  } catch {
    throw new LoginRefused(403, 'lookup failed: the TokenReview answer is not JSON');
  }
  if (status.error) throw new LoginRefused(403, `lookup failed: ${status.error}`);
  if (status.authenticated !== true) throw new LoginRefused(403, 'lookup failed: service account jwt not valid (TokenReview: not authenticated)');
  const parts = (status.user?.username ?? '').split(':');
  if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount') throw new LoginRefused(403, 'lookup failed: the TokenReview user is not a service account');
  if (parts[3] !== sa.name) throw new LoginRefused(403, 'lookup failed: JWT names did not match');
  if (parts[2] !== sa.namespace) throw new LoginRefused(403, 'lookup failed: JWT namespaces did not match');
  if (status.user?.uid !== sa.uid) throw new LoginRefused(403, 'lookup failed: JWT UIDs did not match');
}

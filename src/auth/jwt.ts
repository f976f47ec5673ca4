import { randomUUID, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

/**
 * Kuma's JWT machinery, hardened per RFC 8725: RS256 only, a KeyObject (never raw bytes) chosen
 * by `kid` (never "try every key"), `exp`, `iat` and `jti` required, a fixed 5 s clock tolerance,
 * and key-carrying headers (`jku`, `x5u`, `jwk`, `x5c`) never followed.
 */

export const MAX_TOKEN_BYTES = 8 * 1024;
export const CLOCK_TOLERANCE_S = 5;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Key ids: a serial for keys kept in secrets, or the operator's name for a configured public key. */
const KID = /^[A-Za-z0-9._-]{1,64}$/;

/** A token that does not verify. `reason` is safe to show: it never contains the token. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}

/** Signs claims as Kuma does: `iat` and `nbf` 5 s in the past, `exp` = now + validFor + 5 s, a UUID `jti`. */
export async function signToken(claims: Record<string, unknown>, key: KeyObject, kid: string, validForSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setJti(randomUUID())
    .setIssuedAt(now - CLOCK_TOLERANCE_S)
    .setNotBefore(now - CLOCK_TOLERANCE_S)
    .setExpirationTime(now + validForSeconds + CLOCK_TOLERANCE_S)
    .sign(key);
}

/** Finds the verification key for a `kid`; undefined when there is none (the token is refused). */
export type KeyResolver = (kid: string) => Promise<KeyObject | undefined>;

/** Verifies a compact RS256 JWT and returns its payload, or throws InvalidTokenError. */
export async function verifyToken(token: string, resolveKey: KeyResolver): Promise<JWTPayload & { jti: string }> {
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw new InvalidTokenError('token is too large');
  if (!COMPACT_JWS.test(token)) throw new InvalidTokenError('token is not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new InvalidTokenError('token header cannot be decoded');
  }
  if (header.alg !== 'RS256') throw new InvalidTokenError('token must be signed with RS256');
  if (header.crit !== undefined) throw new InvalidTokenError('token has critical headers this server does not understand');
  if (typeof header.kid !== 'string' || !KID.test(header.kid)) throw new InvalidTokenError('token has no valid kid header');
  const key = await resolveKey(header.kid);
  if (!key) throw new InvalidTokenError(`no signing key with kid "${header.kid}"`);
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['RS256'], clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp', 'iat', 'jti'] });
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new InvalidTokenError('token has no jti');
    return payload as JWTPayload & { jti: string };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new InvalidTokenError('token has expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw new InvalidTokenError(`token claim "${err.claim}" is invalid`);
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new InvalidTokenError('token signature is invalid');
    throw new InvalidTokenError('token is invalid');
  }
}

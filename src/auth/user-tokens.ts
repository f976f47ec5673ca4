import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { ResourceStore } from '../store/store.js';
import { InvalidTokenError, signToken, verifyToken } from './jwt.js';
import { parseRsaPublicKey, SecretSigningKeys } from './signing-keys.js';

/** Who is calling the API. */
export interface User {
  name: string;
  groups: string[];
}

export const ADMIN_GROUP = 'mesh-system:admin';
export const AUTHENTICATED = 'mesh-system:authenticated';
export const UNAUTHENTICATED = 'mesh-system:unauthenticated';
/** Kuma's built-in users. */
export const ADMIN_USER: User = { name: 'mesh-system:admin', groups: [ADMIN_GROUP, AUTHENTICATED] };
export const ANONYMOUS_USER: User = { name: 'mesh-system:anonymous', groups: [UNAUTHENTICATED] };

export const USER_TOKEN_KEY_PREFIX = 'user-token-signing-key';
export const USER_TOKEN_REVOCATIONS = 'user-token-revocations';
export const ADMIN_USER_TOKEN = 'admin-user-token';
const TEN_YEARS_S = 10 * 365 * 24 * 3600;

/** Issuing is switched off (`apiServer.authn.tokens.enableIssuer: false`) or has no key. */
export class IssuerDisabledError extends Error {}

/**
 * User tokens (Kuma's format: claims `Name`, `Groups`, plus `jti`, `iat`, `nbf`, `exp`; header `kid`).
 * Verification keys: the configured static public keys first, then (with `validator.useSecrets`)
 * the global secrets `user-token-signing-key-{serial}`. Revoked `jti`s live in the global secret
 * `user-token-revocations` (comma separated). Dataplane tokens are signed with other keys and
 * carry a `Mesh`, so they never pass here.
 */
export class UserTokens {
  readonly keys: SecretSigningKeys;
  private readonly staticKeys = new Map<string, KeyObject>();

  constructor(
    private readonly store: ResourceStore,
    private readonly settings: Config['apiServer']['authn']['tokens'],
  ) {
    this.keys = new SecretSigningKeys(store, USER_TOKEN_KEY_PREFIX);
    for (const entry of settings.validator.publicKeys) {
      const pem = entry.key ?? (entry.keyFile ? readFileSync(entry.keyFile, 'utf8') : '');
      try {
        this.staticKeys.set(entry.kid, parseRsaPublicKey(pem));
      } catch (err) {
        throw new Error(`apiServer.authn.tokens.validator.publicKeys kid "${entry.kid}": ${(err as Error).message}`);
      }
    }
  }

  /**
   * First start: creates signing key 1 when missing and, only then and if enabled, stores an admin
   * token (valid 10 years) as the global secret `admin-user-token`. Deleting that secret is
   * therefore permanent, as Kuma documents.
   */
  async bootstrap(): Promise<{ keyCreated: boolean; adminTokenCreated: boolean }> {
    if (!this.settings.enableIssuer || !this.settings.validator.useSecrets) return { keyCreated: false, adminTokenCreated: false };
    const keyCreated = await this.keys.ensure();
    if (!keyCreated || !this.settings.bootstrapAdminToken) return { keyCreated, adminTokenCreated: false };
    const token = await this.issue(ADMIN_USER.name, [ADMIN_GROUP], TEN_YEARS_S);
    await this.store.create({ type: 'GlobalSecret', mesh: '', name: ADMIN_USER_TOKEN, spec: { data: Buffer.from(token).toString('base64') } });
    return { keyCreated, adminTokenCreated: true };
  }

  async issue(name: string, groups: string[], validForSeconds: number): Promise<string> {
    if (!this.settings.enableIssuer) throw new IssuerDisabledError('user token issuing is disabled (apiServer.authn.tokens.enableIssuer: false)');
    const signing = await this.keys.signingKey();
    if (!signing) throw new IssuerDisabledError(`there is no signing key (global secret ${USER_TOKEN_KEY_PREFIX}-{serial})`);
    return signToken({ Name: name, Groups: groups }, signing.key, signing.kid, validForSeconds);
  }

  private async revoked(jti: string): Promise<boolean> {
    const secret = await this.store.get({ type: 'GlobalSecret', mesh: '', name: USER_TOKEN_REVOCATIONS });
    if (!secret) return false;
    const list = Buffer.from(String(secret.spec.data ?? ''), 'base64').toString('utf8');
    return list.split(',').some((id) => id.trim() === jti);
  }

  /** The user a token names, or InvalidTokenError with a reason safe to show. */
  async validate(token: string): Promise<User> {
    const payload = await verifyToken(token, async (kid) => {
      const fixed = this.staticKeys.get(kid);
      if (fixed) return fixed;
      return this.settings.validator.useSecrets ? this.keys.verificationKey(kid) : undefined;
    });
    if ('Mesh' in payload || ('Type' in payload && payload.Type !== 'user')) throw new InvalidTokenError('not a user token');
    const name = payload.Name;
    const groups = payload.Groups ?? [];
    if (typeof name !== 'string' || name === '') throw new InvalidTokenError('token has no Name claim');
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) throw new InvalidTokenError('token Groups claim must be a list of strings');
    if (await this.revoked(payload.jti)) throw new InvalidTokenError('token has been revoked');
    return { name, groups: [...new Set([...(groups as string[]), AUTHENTICATED])] };
  }
}

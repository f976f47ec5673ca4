import { existsSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { InvalidError, isConflict, isAlreadyExists, isNotFound } from '../../core/errors.js';
import type { StoredResource } from '../../core/model.js';
import { checkName } from '../../core/names.js';
import type { ResourceStore } from '../../store/store.js';
import { addressInCidrs } from '../cidrs.js';
import { checkClaimsAdmit, type DataplaneTokenClaims, type DataplaneTokens, TokenMismatchError } from '../dataplane-tokens.js';
import { InvalidTokenError } from '../jwt.js';
import {
  fillTemplate,
  LOCAL_CA_FILE,
  LOCAL_JWT_FILE,
  normalizeHost,
  parseConfig,
  parseRole,
  publicKeysOf,
  type KubernetesAuthConfig,
  type KubernetesRole,
} from './params.js';
import { LoginRefused, parseAndValidate, reviewToken, type ServiceAccount } from './service-accounts.js';

/** Stored as global secrets: the config holds a credential, and roles decide who gets identities. */
export const CONFIG_SECRET = 'kubernetes-auth-config';
export const ROLE_SECRET_PREFIX = 'kubernetes-auth-role-';
/** Vault's default token lifetime (its system max lease TTL), used when a role sets no TTL. */
export const DEFAULT_LEASE_SECONDS = 2_764_800;

export interface LoginResult {
  clientToken: string;
  accessor: string;
  policies: string[];
  tokenPolicies: string[];
  metadata: Record<string, string>;
  aliasName: string;
  leaseDuration: number;
  tokenType: string;
}

/** Where a pod's own credentials are (tests point elsewhere). */
export interface LocalCredentialFiles {
  caFile: string;
  jwtFile: string;
}

const roleKey = (name: string) => ({ type: 'GlobalSecret' as const, mesh: '' as const, name: `${ROLE_SECRET_PREFIX}${name}` });
const configKey = { type: 'GlobalSecret' as const, mesh: '' as const, name: CONFIG_SECRET };

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64');
const decode = <T>(secret: StoredResource): T => JSON.parse(Buffer.from(String(secret.spec.data ?? ''), 'base64').toString('utf8')) as T;

/**
 * Vault's Kubernetes auth method, giving dataplane identities: configuration and roles kept in the
 * store (so they survive restarts and every instance sees them), `login` exchanging a
 * service-account JWT for a dataplane token, and `admitProxy` for xDS streams that present a
 * service-account JWT directly (`dpServer.authn.dpProxy.type: serviceAccountToken`).
 */
export class KubernetesAuth {
  /** Parsed `pem_keys`, kept while the configured PEM text is unchanged. */
  private parsedKeys: { pem: string; keys: KeyObject[] } | undefined;

  constructor(
    private readonly store: ResourceStore,
    private readonly tokens: DataplaneTokens,
    private readonly local: LocalCredentialFiles = { caFile: LOCAL_CA_FILE, jwtFile: LOCAL_JWT_FILE },
  ) {}

  private inPod(): boolean {
    return existsSync(this.local.caFile) && existsSync(this.local.jwtFile);
  }

  async readConfig(): Promise<KubernetesAuthConfig | undefined> {
    const secret = await this.store.get(configKey);
    return secret ? decode<KubernetesAuthConfig>(secret) : undefined;
  }

  async writeConfig(body: unknown): Promise<void> {
    const parsed = parseConfig(body, this.inPod());
    if (!parsed.ok) throw new InvalidError('the Kubernetes auth configuration is not valid', parsed.causes.list);
    await this.upsert(configKey, encode(parsed.config));
  }

  /** Role names are case-insensitive (Vault stores them lower-cased) and must be resource names here. */
  static roleName(name: string): { ok: true; name: string } | { ok: false; message: string } {
    const lower = name.toLowerCase();
    const problem = checkName(lower);
    return problem ? { ok: false, message: problem } : { ok: true, name: lower };
  }

  async readRole(name: string): Promise<KubernetesRole | undefined> {
    const secret = await this.store.get(roleKey(name));
    return secret ? decode<KubernetesRole>(secret) : undefined;
  }

  /** Creates or updates a role; returns Vault's warnings. */
  async writeRole(name: string, body: unknown): Promise<string[]> {
    const parsed = parseRole(body, await this.readRole(name));
    if (!parsed.ok) throw new InvalidError(`role "${name}" is not valid`, parsed.causes.list);
    await this.upsert(roleKey(name), encode(parsed.role));
    return parsed.warnings;
  }

  async deleteRole(name: string): Promise<void> {
    try {
      await this.store.delete(roleKey(name));
    } catch (err) {
      if (!isNotFound(err)) throw err; // Vault: deleting a missing role succeeds
    }
  }

  async listRoles(): Promise<string[]> {
    return (await this.roles()).map(([name]) => name);
  }

  /** Every role with its name, ordered by name, from one read of the store. */
  private async roles(): Promise<Array<[string, KubernetesRole]>> {
    const { items } = await this.store.list('GlobalSecret', { nameContains: ROLE_SECRET_PREFIX });
    return items.filter((s) => s.name.startsWith(ROLE_SECRET_PREFIX)).map((s) => [s.name.slice(ROLE_SECRET_PREFIX.length), decode<KubernetesRole>(s)]);
  }

  private async upsert(key: { type: 'GlobalSecret'; mesh: ''; name: string }, data: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.store.get(key);
      try {
        if (current) await this.store.update({ ...key, spec: { data } }, current.version);
        else await this.store.create({ ...key, spec: { data } });
        return;
      } catch (err) {
        if (!isConflict(err) && !isAlreadyExists(err) && !isNotFound(err)) throw err;
      }
    }
    throw new InvalidError('the entry changed concurrently three times; retry', []);
  }

  private publicKeys(config: KubernetesAuthConfig): KeyObject[] {
    const pem = config.pem_keys.join('\n');
    if (this.parsedKeys?.pem !== pem) this.parsedKeys = { pem, keys: publicKeysOf(config.pem_keys) };
    return this.parsedKeys.keys;
  }

  /**
   * Checks a service-account JWT against a role: the role's CIDRs (the caller's address), its
   * signature locally with `pem_keys` or else through the TokenReview API, and the role's bindings.
   */
  async authenticate(role: KubernetesRole, jwt: string, remoteAddress: string | undefined, config?: KubernetesAuthConfig): Promise<ServiceAccount> {
    if (role.token_bound_cidrs.length > 0 && !addressInCidrs(remoteAddress, role.token_bound_cidrs)) {
      throw new LoginRefused(403, `permission denied: the caller's address ${remoteAddress ?? '(unknown)'} is not in the role's token_bound_cidrs`);
    }
    config ??= await this.readConfig();
    if (!config) throw new LoginRefused(400, 'the Kubernetes auth method is not configured: POST /auth/kubernetes/config first');
    const keys = this.publicKeys(config);
    const sa = await parseAndValidate(jwt, role, config, keys);
    if (keys.length === 0) {
      // No keys to verify the signature with: Kubernetes itself must vouch for the token.
      const useLocal = !config.disable_local_ca_jwt && this.inPod();
      const ca = config.kubernetes_ca_cert || (useLocal ? readFileSync(this.local.caFile, 'utf8') : '');
      const bearer = config.token_reviewer_jwt || (useLocal ? readFileSync(this.local.jwtFile, 'utf8').trim() : jwt);
      await reviewToken({ host: normalizeHost(config.kubernetes_host)!, ca, bearer }, jwt, sa, role.audience ? [role.audience] : sa.audiences);
    }
    return sa;
  }

  /** What a login grants: a dataplane token of the role's mesh, bound as the role says. */
  private claimsFor(role: KubernetesRole, sa: ServiceAccount): DataplaneTokenClaims {
    const vars = { service_account_name: sa.name, service_account_namespace: sa.namespace, service_account_uid: sa.uid, pod_name: sa.podName };
    const tags: Record<string, string[]> = {};
    for (const [key, values] of Object.entries(role.tags)) tags[key] = values.map((v) => fillTemplate(v, vars));
    if (role.service) tags['kuma.io/service'] = [fillTemplate(role.service, vars)];
    const name = role.dataplane_name ? fillTemplate(role.dataplane_name, vars) : undefined;
    return { mesh: role.mesh, type: 'dataplane', tags, ...(name ? { name } : {}), ...(role.token_bound_cidrs.length ? { boundCidrs: role.token_bound_cidrs } : {}) };
  }

  /** Vault's lease: the period of a periodic role, else the TTL (or the default), capped by the max TTLs. */
  static leaseSeconds(role: KubernetesRole): number {
    let lease = role.token_period > 0 ? role.token_period : role.token_ttl > 0 ? role.token_ttl : DEFAULT_LEASE_SECONDS;
    if (role.token_period === 0 && role.token_max_ttl > 0) lease = Math.min(lease, role.token_max_ttl);
    if (role.token_explicit_max_ttl > 0) lease = Math.min(lease, role.token_explicit_max_ttl);
    return lease;
  }

  async login(roleName: unknown, jwt: unknown, remoteAddress: string | undefined): Promise<LoginResult> {
    if (typeof roleName !== 'string' || roleName === '') throw new LoginRefused(400, 'missing role');
    if (typeof jwt !== 'string' || jwt === '') throw new LoginRefused(400, 'missing jwt');
    const key = KubernetesAuth.roleName(roleName);
    const role = key.ok ? await this.readRole(key.name) : undefined;
    if (!role) throw new LoginRefused(400, `invalid role name "${roleName}"`);
    const sa = await this.authenticate(role, jwt.trim(), remoteAddress);
    if (!(await this.store.get({ type: 'Mesh', mesh: '', name: role.mesh }))) {
      throw new LoginRefused(400, `role "${roleName}" grants identities in mesh "${role.mesh}", which does not exist`);
    }
    const lease = KubernetesAuth.leaseSeconds(role);
    const issued = await this.tokens.issueWithId(this.claimsFor(role, sa), lease);
    const policies = [...new Set([...(role.token_no_default_policy ? [] : ['default']), ...role.token_policies])].sort();
    return {
      clientToken: issued.token,
      accessor: issued.jti,
      policies,
      tokenPolicies: policies,
      metadata: {
        role: key.ok ? key.name : roleName,
        service_account_name: sa.name,
        service_account_namespace: sa.namespace,
        service_account_secret_name: sa.secretName,
        service_account_uid: sa.uid,
      },
      aliasName: role.alias_name_source === 'serviceaccount_name' ? `${sa.namespace}/${sa.name}` : sa.uid,
      leaseDuration: lease,
      tokenType: role.token_type === 'batch' ? 'batch' : 'service',
    };
  }

  /**
   * `serviceAccountToken` admission of a proxy: the first role (by name) of the dataplane's mesh
   * whose rules the JWT passes (from the proxy's address) and whose grant admits the dataplane.
   * Throws InvalidTokenError when no role accepts the token at all, TokenMismatchError when roles
   * accept it but none admits this dataplane.
   */
  async admitProxy(jwt: string, mesh: string, dataplane: StoredResource, peerAddress: string | undefined): Promise<void> {
    const refusals: string[] = [];
    let authenticated = false;
    const config = await this.readConfig();
    for (const [name, role] of await this.roles()) {
      if (role.mesh !== mesh) continue;
      let sa: ServiceAccount;
      try {
        sa = await this.authenticate(role, jwt, peerAddress, config);
      } catch (err) {
        if (err instanceof LoginRefused) {
          refusals.push(`role "${name}": ${err.message}`);
          continue;
        }
        throw err;
      }
      authenticated = true;
      try {
        checkClaimsAdmit(this.claimsFor(role, sa), mesh, dataplane, peerAddress);
        return;
      } catch (err) {
        if (err instanceof TokenMismatchError) refusals.push(`role "${name}": ${err.message}`);
        else throw err;
      }
    }
    const reason = refusals.length ? refusals.join('; ') : `no Kubernetes auth role grants identities in mesh "${mesh}"`;
    if (authenticated) throw new TokenMismatchError(reason);
    throw new InvalidTokenError(`service account token not accepted: ${reason}`);
  }
}

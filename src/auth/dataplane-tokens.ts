import { normalizeDataplane } from '../core/resources/dataplane.js';
import type { StoredResource } from '../core/model.js';
import type { ResourceStore } from '../store/store.js';
import { InvalidTokenError, signToken, verifyToken } from './jwt.js';
import { SecretSigningKeys } from './signing-keys.js';
import { addressInCidrs } from './cidrs.js';
import { decodeJwt } from 'jose';
import { waitForLeaderWork } from '../store/wait-for-leader.js';

const TEN_YEARS_S = 10 * 365 * 24 * 3600;
/** How long a follower waits for the leader to create a mesh's first signing key. */
const KEY_WAIT_MS = 10_000;

export const dataplaneKeyPrefix = (mesh: string) => `dataplane-token-signing-key-${mesh}`;
export const dataplaneRevocations = (mesh: string) => `dataplane-token-revocations-${mesh}`;

/** What a dataplane token may say (Kuma's claims); each part is checked only when present. */
export interface DataplaneTokenClaims {
  name?: string;
  mesh: string;
  /** e.g. `{"kuma.io/service": ["web", "web-api"]}`: the dataplane must carry each tag with one of the values. */
  tags?: Record<string, string[]>;
  /** `dataplane` (Kuma also knows `ingress`/`egress`, which Skiff does not serve). */
  type?: string;
  /** Our addition (`BoundCIDRs`, from a Kubernetes auth role's token_bound_cidrs): the proxy's address must be in one. */
  boundCidrs?: string[];
}

/**
 * Whether claims (a verified token's, or a Kubernetes auth role's grant) admit the Dataplane
 * `dataplane` of `mesh` connecting from `peerAddress`; each claim is checked only when present.
 * Throws TokenMismatchError naming the first claim that does not fit.
 */
export function checkClaimsAdmit(claims: Partial<DataplaneTokenClaims>, mesh: string, dataplane: StoredResource, peerAddress: string | undefined): void {
  if (claims.type !== undefined && claims.type !== 'dataplane') throw new TokenMismatchError(`token is for a ${String(claims.type)}, not a dataplane`);
  if (claims.mesh !== undefined && claims.mesh !== mesh) throw new TokenMismatchError(`token is for mesh "${String(claims.mesh)}", not "${mesh}"`);
  if (claims.name !== undefined && claims.name !== dataplane.name) throw new TokenMismatchError(`token is for dataplane "${String(claims.name)}", not "${dataplane.name}"`);
  if (claims.tags !== undefined) {
    const inbounds = normalizeDataplane(dataplane.spec).inbound;
    for (const [key, allowed] of Object.entries(claims.tags)) {
      const ok = inbounds.length > 0 && inbounds.every((inbound) => {
        const value = key === 'kuma.io/service' ? inbound.service : inbound.tags[key];
        return value !== undefined && allowed.includes(value);
      });
      if (!ok) throw new TokenMismatchError(`dataplane "${dataplane.name}" does not carry the tag ${key} with one of: ${allowed.join(', ')}`);
    }
  }
  if (claims.boundCidrs !== undefined && claims.boundCidrs.length > 0 && !addressInCidrs(peerAddress, claims.boundCidrs)) {
    throw new TokenMismatchError(`the proxy's address ${peerAddress ?? '(unknown)'} is not in the token's bound CIDRs`);
  }
}

/** The token is fine but names another dataplane: PERMISSION_DENIED rather than UNAUTHENTICATED. */
export class TokenMismatchError extends Error {}

/**
 * Dataplane tokens: RS256 JWTs with claims `Name`, `Mesh`, `Tags`, `Type`, signed with per-mesh keys
 * kept as mesh secrets `dataplane-token-signing-key-{mesh}-{serial}` (highest signs, all verify) and
 * revoked through the mesh secret `dataplane-token-revocations-{mesh}`. User-token keys are never
 * consulted, so a user token cannot stand in for a dataplane token, nor the reverse.
 */
export class DataplaneTokens {
  private readonly keysByMesh = new Map<string, SecretSigningKeys>();

  /**
   * `isLeader`: whether this control plane creates missing signing keys. A follower waits for the
   * leader's instead (it creates one for every mesh), so two instances never race to make key 1.
   */
  constructor(
    private readonly store: ResourceStore,
    private readonly isLeader: () => boolean = () => true,
  ) {}

  /** Creates the mesh's first signing key when it has none (leader work). */
  async ensureSigningKey(mesh: string): Promise<boolean> {
    return this.keys(mesh).ensure();
  }

  private async signingKeyReady(mesh: string): Promise<void> {
    const keys = this.keys(mesh);
    if (this.isLeader()) {
      await keys.ensure();
      return;
    }
    await waitForLeaderWork(async () => (await keys.serials()).length > 0, KEY_WAIT_MS, `mesh "${mesh}" has no dataplane token signing key yet (the leader control plane creates it); retry shortly`);
  }

  private keys(mesh: string): SecretSigningKeys {
    let keys = this.keysByMesh.get(mesh);
    if (!keys) this.keysByMesh.set(mesh, (keys = new SecretSigningKeys(this.store, dataplaneKeyPrefix(mesh), { type: 'Secret', mesh })));
    return keys;
  }

  /** Issues a token; the mesh's first signing key is created on first use. `validForSeconds` 0 means ten years. */
  async issue(claims: DataplaneTokenClaims, validForSeconds: number): Promise<string> {
    return (await this.issueWithId(claims, validForSeconds)).token;
  }

  /** As `issue`, also returning the token's `jti` (what `dataplane-token-revocations-{mesh}` lists). */
  async issueWithId(claims: DataplaneTokenClaims, validForSeconds: number): Promise<{ token: string; jti: string }> {
    const keys = this.keys(claims.mesh);
    await this.signingKeyReady(claims.mesh);
    const signing = await keys.signingKey();
    if (!signing) throw new Error(`mesh "${claims.mesh}" has no dataplane token signing key`);
    const payload: Record<string, unknown> = { Mesh: claims.mesh, Type: claims.type ?? 'dataplane' };
    if (claims.name) payload.Name = claims.name;
    if (claims.tags && Object.keys(claims.tags).length > 0) payload.Tags = claims.tags;
    if (claims.boundCidrs && claims.boundCidrs.length > 0) payload.BoundCIDRs = claims.boundCidrs;
    const token = await signToken(payload, signing.key, signing.kid, validForSeconds > 0 ? validForSeconds : TEN_YEARS_S);
    return { token, jti: String(decodeJwt(token).jti) };
  }

  private async revoked(mesh: string, jti: string): Promise<boolean> {
    const secret = await this.store.get({ type: 'Secret', mesh, name: dataplaneRevocations(mesh) });
    if (!secret) return false;
    return Buffer.from(String(secret.spec.data ?? ''), 'base64').toString('utf8').split(',').some((id) => id.trim() === jti);
  }

  /**
   * Checks that `token` admits the Dataplane `dataplane` of `mesh`: a valid signature by one of the
   * mesh's keys, not revoked, and claims that match (including, for a token bound to CIDRs, the
   * proxy's address). Throws InvalidTokenError (UNAUTHENTICATED) or TokenMismatchError
   * (PERMISSION_DENIED); messages never contain the token.
   */
  async verify(token: string, mesh: string, dataplane: StoredResource, peerAddress?: string): Promise<void> {
    const payload = await verifyToken(token, (kid) => this.keys(mesh).verificationKey(kid));
    if (typeof payload.Mesh !== 'string' && payload.Mesh !== undefined) throw new InvalidTokenError('Mesh claim must be a string');
    if (payload.Groups !== undefined) throw new InvalidTokenError('a user token is not a dataplane token');
    const tags = payload.Tags as Record<string, unknown> | undefined;
    if (tags !== undefined && (typeof tags !== 'object' || tags === null || Array.isArray(tags) || Object.values(tags).some((v) => !Array.isArray(v)))) {
      throw new InvalidTokenError('Tags claim must be a map of lists');
    }
    const cidrs = payload.BoundCIDRs;
    if (cidrs !== undefined && (!Array.isArray(cidrs) || cidrs.some((c) => typeof c !== 'string'))) throw new InvalidTokenError('BoundCIDRs claim must be a list of strings');
    checkClaimsAdmit(
      {
        mesh: payload.Mesh as string | undefined,
        name: payload.Name as string | undefined,
        type: payload.Type as string | undefined,
        tags: tags as Record<string, string[]> | undefined,
        boundCidrs: cidrs as string[] | undefined,
      },
      mesh,
      dataplane,
      peerAddress,
    );
    if (await this.revoked(mesh, payload.jti)) throw new InvalidTokenError('token has been revoked');
  }
}

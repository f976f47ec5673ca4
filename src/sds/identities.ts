import type { Logger } from 'pino';
import type { MtlsBackend } from '../core/resources/mesh.js';
import type { MeshCaManager } from './mesh-ca.js';
import { createHash } from 'node:crypto';
import { spiffeId } from './pki.js';
import { inProcessSigner, type SvidSigner } from './svid-signer.js';

/** A certificate is renewed after this share of its life, as before: 80%. */
const RENEW_AFTER = 0.8;

/**
 * The issuance window of `nodeId` at `now`: windows are RENEW_AFTER × validity long and each node's
 * are shifted by a phase derived from its id (so renewals spread over the period rather than
 * falling due together). Every instance computes the same window, hence the same certificate.
 */
export function issuanceWindow(nodeId: string, validityMs: number, now: number): { startMs: number; endMs: number } {
  const lengthS = Math.max(1, Math.floor((RENEW_AFTER * validityMs) / 1000));
  const phaseS = createHash('sha256').update(nodeId).digest().readUInt32BE(0) % lengthS;
  const index = Math.floor((Math.floor(now / 1000) - phaseS) / lengthS);
  const startMs = (index * lengthS + phaseS) * 1000;
  return { startMs, endMs: startMs + lengthS * 1000 };
}

/** A dataplane's identity: its SVID and key, and the mesh trust bundle it chains to. */
export interface Identity {
  spiffeId: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  notAfter: Date;
  /** When to issue the next one: the end of its issuance window (at most 80% of its life). */
  renewAt: number;
  caId: string;
}

/**
 * Dataplane certificates, held in memory only (never stored): issued on first need, re-issued at
 * the end of the node's issuance window or when the mesh CA changes. They are deterministic
 * (`issueLeaf`'s `deterministic`, leaf.ts): every control plane sharing the mesh CA issues the same one. `onRenewalDue` is called at renewal time
 * so the owner can publish the new one to the proxy over its open stream.
 */
export class IdentityIssuer {
  private readonly identities = new Map<string, Identity>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Map<string, Promise<Identity | undefined>>();
  private readonly unnamable = new Set<string>();

  constructor(
    private readonly cas: MeshCaManager,
    private readonly logger: Logger,
    private readonly onRenewalDue: (nodeId: string) => void,
    /** Told of every certificate issued (DataplaneInsight's mTLS status). */
    private readonly onIssued: (nodeId: string, notAfter: Date) => void = () => {},
    /** Where certificates are signed (worker threads in the control plane); closed with this. */
    private readonly signer: SvidSigner = inProcessSigner,
  ) {}

  /**
   * The identity of `{mesh}.{name}` whose first inbound's service is `service` (X509-SVID allows
   * one SPIFFE ID; a dataplane with several services takes its first one's).
   */
  async identityFor(nodeId: string, mesh: string, service: string, backend: MtlsBackend): Promise<Identity | undefined> {
    const id = spiffeId(mesh, [service]);
    if (!id) {
      if (this.unnamable.has(nodeId)) return undefined; // said once per node
      this.unnamable.add(nodeId);
      this.logger.warn({ node: nodeId, mesh, service }, 'mesh or service name cannot form a SPIFFE ID; the dataplane gets no identity');
      return undefined;
    }
    const ca = await this.cas.get(mesh, backend);
    const current = this.identities.get(nodeId);
    if (current && current.spiffeId === id && current.caId === ca.id && Date.now() < current.renewAt) return current;
    let pending = this.inflight.get(nodeId);
    if (!pending) {
      pending = (async () => {
        const window = issuanceWindow(nodeId, backend.certValidityMs, Date.now());
        const svid = await this.signer.issue(ca.id, ca, { spiffeId: id, validForMs: backend.certValidityMs, holder: nodeId, windowStartMs: window.startMs });
        const identity: Identity = { spiffeId: id, certPem: svid.certPem, keyPem: svid.keyPem, caPem: ca.certPem, notAfter: svid.notAfter, renewAt: window.endMs, caId: ca.id };
        this.identities.set(nodeId, identity);
        clearTimeout(this.timers.get(nodeId));
        const timer = setTimeout(() => this.onRenewalDue(nodeId), Math.max(0, identity.renewAt - Date.now()) + 10);
        timer.unref();
        this.timers.set(nodeId, timer);
        this.logger.debug({ node: nodeId, spiffeId: id, notAfter: svid.notAfter.toISOString() }, 'issued dataplane certificate');
        this.onIssued(nodeId, svid.notAfter);
        return identity;
      })().finally(() => this.inflight.delete(nodeId));
      this.inflight.set(nodeId, pending);
    }
    return pending;
  }

  forget(nodeId: string): void {
    this.identities.delete(nodeId);
    this.unnamable.delete(nodeId);
    clearTimeout(this.timers.get(nodeId));
    this.timers.delete(nodeId);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    void this.signer.close();
  }
}

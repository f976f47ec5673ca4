import type { Logger } from 'pino';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import { versionOf, type EncodedResource } from '../cache/snapshot.js';
import { SHORT_NAMES, WILDCARD_TYPES, type TypeUrl } from '../resources.js';
import { HELD_UNTIL, REMOVE_AFTER, StreamBase } from './stream-base.js';
import type { DiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse as DiscoveryResponseMessage } from '../generated/envoy/service/discovery/v3/DiscoveryResponse.js';
import type { ProxyIdentity } from './identity.js';

/** The ADS messages as decoded and as encoded (keepCase, arrays), typed from the descriptor set. */
export type DiscoveryRequest = DiscoveryRequest__Output;
export type DiscoveryResponse = Required<Pick<DiscoveryResponseMessage, 'version_info' | 'type_url' | 'nonce'>> & { resources: Array<{ type_url: string; value: Buffer }> };

/** One admitted stream, as hooks see it. */
export interface StreamInfo {
  /** Unique in this process. */
  id: string;
  protocol: 'sotw' | 'delta';
  identity: ProxyIdentity;
  /**
   * Whether SDS secrets holding private keys may be sent: the transport is TLS, or the peer is on
   * loopback. Otherwise identity secrets are withheld (and the proxy's TLS never comes up).
   */
  allowPrivateKeys: boolean;
  /** Only SDS secrets are served on this stream (the SecretDiscoveryService on 5677). */
  secretsOnly?: boolean;
}

/**
 * Observers of streams (DataplaneInsight, metrics, the inspect endpoint). Every method is optional;
 * hooks run synchronously on the stream's path, so they only record and never block.
 */
export interface StreamHooks {
  onStreamOpen?(stream: StreamInfo): void;
  onStreamClose?(stream: StreamInfo): void;
  onResponse?(stream: StreamInfo, typeUrl: TypeUrl, version: string): void;
  onAck?(stream: StreamInfo, typeUrl: TypeUrl, version: string): void;
  onNack?(stream: StreamInfo, typeUrl: TypeUrl, version: string, message: string): void;
  /** Every type a change made the control plane send was ACKed, `ms` after the change. */
  onDelivered?(stream: StreamInfo, ms: number): void;
}

interface TypeState {
  /** `wildcard`, or the names the proxy asked for. */
  subscription: 'wildcard' | Set<string>;
  /** A request is waiting for an answer (SotW allows one response in flight per type). */
  waiting: boolean;
  /** Nonce of the last response; a request carrying another one is stale and ignored. */
  nonce: string | undefined;
  /** version_info of the last response (or of what the proxy already had when it reconnected). */
  sentVersion: string | undefined;
  /** The resources of the last response. */
  sent: EncodedResource[];
  /** The last response kept resources that are gone, until the listeners and routes moved off them. */
  deferredRemoval: boolean;
  /** The snapshot map and subscription the last response was computed from: unchanged, nothing to send. */
  computedFrom?: { resources: ReadonlyMap<string, EncodedResource> | undefined; subscription: 'wildcard' | Set<string> };
}


/**
 * The state-of-the-world protocol for one ADS stream, following Envoy's xds_protocol: one
 * subscription per type URL, responses carry every subscribed resource of their type, nonces tie
 * ACK/NACK to a response, stale nonces are ignored, a NACK keeps the last config and is not
 * answered with the same config again, and a reconnecting proxy that already has the current
 * version is sent nothing. It knows nothing of meshes: it reads snapshots from the cache.
 */
export class SotwStream extends StreamBase<DiscoveryRequest> {
  private readonly types = new Map<TypeUrl, TypeState>();

  constructor(stream: StreamInfo, cache: SnapshotCache, private readonly send: (response: DiscoveryResponse) => void, logger: Logger, hooks: StreamHooks = {}) {
    super(stream, cache, logger, hooks);
  }

  protected handleType(typeUrl: TypeUrl, request: DiscoveryRequest): void {
    let state = this.types.get(typeUrl);
    const nonce = request.response_nonce ?? '';
    if (state && nonce !== '' && nonce !== state.nonce) {
      this.logger.debug({ typeUrl, nonce, expected: state.nonce }, 'stale nonce; request ignored');
      return;
    }
    if (state && nonce !== '') {
      if (request.error_detail) {
        const message = request.error_detail.message ?? '';
        this.logger.warn({ type: SHORT_NAMES[typeUrl], rejected: state.sentVersion, keeps: request.version_info, error: message }, 'proxy rejected configuration (NACK)');
        this.hooks.onNack?.(this.stream, typeUrl, state.sentVersion ?? '', message);
      } else {
        this.hooks.onAck?.(this.stream, typeUrl, request.version_info ?? '');
        this.acked(typeUrl);
      }
    }
    if (!state) {
      // A reconnecting proxy names the version it has; if that is still current, it gets nothing.
      state = { subscription: new Set(), waiting: false, nonce: undefined, sentVersion: request.version_info || undefined, sent: [], deferredRemoval: false };
      this.types.set(typeUrl, state);
    }
    state.subscription = this.subscriptionOf(typeUrl, request.resource_names ?? [], state);
    state.waiting = true;
    this.respond(typeUrl);
  }

  private subscriptionOf(typeUrl: TypeUrl, names: string[], state: TypeState): 'wildcard' | Set<string> {
    if (names.includes('*')) return 'wildcard';
    // Envoy's legacy wildcard: an empty list for LDS/CDS, on the first request or while wildcard.
    if (names.length === 0 && WILDCARD_TYPES.has(typeUrl) && (state.nonce === undefined || state.subscription === 'wildcard')) return 'wildcard';
    // An ACK names what it subscribed to before: keep the same set, so unchanged state is recognised.
    const current = state.subscription;
    if (current !== 'wildcard' && current.size === names.length && names.every((n) => current.has(n))) return current;
    return new Set(names);
  }

  /** The subscribed resources of a type in the current snapshot (names not yet there are left out). */
  private selected(typeUrl: TypeUrl, subscription: 'wildcard' | Set<string>): EncodedResource[] {
    const all = this.snapshot?.resources.get(typeUrl);
    if (!all) return [];
    if (subscription === 'wildcard') return [...all.values()].filter((r) => this.allowed(typeUrl, r.name));
    const out: EncodedResource[] = [];
    for (const name of subscription) {
      const resource = all.get(name);
      if (resource && this.allowed(typeUrl, name)) out.push(resource);
    }
    return out;
  }

  /** Whether a type has a change its proxy has not been sent yet. */
  private pending(typeUrl: TypeUrl): boolean {
    const state = this.types.get(typeUrl);
    return state !== undefined && versionOf(this.selected(typeUrl, state.subscription)) !== state.sentVersion;
  }

  protected holdsRemovals(typeUrl: TypeUrl): boolean {
    return this.types.get(typeUrl)?.deferredRemoval ?? false;
  }

  protected respond(typeUrl: TypeUrl): void {
    const state = this.types.get(typeUrl);
    if (!state || !state.waiting || !this.snapshot) return;
    const from = this.snapshot.resources.get(typeUrl);
    const computed = state.computedFrom;
    if (!state.deferredRemoval && computed && computed.resources === from && computed.subscription === state.subscription) return;
    let resources = this.selected(typeUrl, state.subscription);
    // Envoy's "removals last": while a listener or route update that stops using a cluster is still
    // to be sent, the cluster (and its endpoints) stay in the response, so no request is routed to a
    // cluster the proxy was just told does not exist.
    const dependents = REMOVE_AFTER[typeUrl];
    state.deferredRemoval = false;
    if (dependents && !sameNames(state.sent, resources)) {
      const names = new Set(resources.map((r) => r.name));
      const wanted = (name: string) => state.subscription === 'wildcard' || state.subscription.has(name);
      const removed = state.sent.filter((r) => !names.has(r.name) && wanted(r.name));
      if (removed.length > 0 && dependents.some((t) => this.pending(t))) {
        resources = [...resources, ...removed];
        state.deferredRemoval = true;
      }
    }
    const version = versionOf(resources);
    // Remembered only when nothing was held back: a held-back removal must be re-evaluated.
    state.computedFrom = state.deferredRemoval ? undefined : { resources: from, subscription: state.subscription };
    if (version === state.sentVersion) return;
    const nonce = this.nextNonce();
    state.waiting = false;
    state.nonce = nonce;
    state.sentVersion = version;
    state.sent = resources;
    this.send({ version_info: version, resources: resources.map((r) => r.any), type_url: typeUrl, nonce });
    this.sent(typeUrl);
    this.hooks.onResponse?.(this.stream, typeUrl, version);
    // Once listeners or routes went out, the removals held back can follow.
    for (const held of HELD_UNTIL[typeUrl]) if (this.types.get(held)?.deferredRemoval) this.respond(held);
  }
}

/** The same names in the same order (the usual case: only versions changed), so nothing was removed. */
function sameNames(a: readonly EncodedResource[], b: readonly EncodedResource[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.name !== b[i]!.name) return false;
  return true;
}

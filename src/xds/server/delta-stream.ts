import type { Logger } from 'pino';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import type { EncodedResource } from '../cache/snapshot.js';
import { versionOf } from '../cache/snapshot.js';
import { SHORT_NAMES, WILDCARD_TYPES, type TypeUrl } from '../resources.js';
import { HELD_UNTIL, REMOVE_AFTER, StreamBase } from './stream-base.js';
import type { DeltaDiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DeltaDiscoveryResponse as DeltaDiscoveryResponseMessage } from '../generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.js';
import type { StreamHooks, StreamInfo } from './sotw-stream.js';

/** The delta ADS messages as decoded and as encoded (keepCase, arrays), typed from the descriptor set. */
export type DeltaDiscoveryRequest = DeltaDiscoveryRequest__Output;
export type DeltaDiscoveryResponse = Required<Pick<DeltaDiscoveryResponseMessage, 'system_version_info' | 'type_url' | 'removed_resources' | 'nonce'>> & {
  resources: Array<{ name: string; version: string; resource: { type_url: string; value: Buffer } }>;
};

interface DeltaTypeState {
  wildcard: boolean;
  names: Set<string>;
  /** What the proxy has, name → version (as it told us, or as we sent it). */
  known: Map<string, string>;
  nonce: string | undefined;
  /** system_version_info of the last response. */
  version: string | undefined;
  /** The first request of the type has been answered (or needed no answer). */
  started: boolean;
  /** Removals held back until listener/route updates went out. */
  deferredRemoval: boolean;
}

/**
 * Incremental xDS for one stream (Envoy's xds_protocol, "Incremental xDS"): subscriptions change by
 * `resource_names_subscribe` / `_unsubscribe` (honoured whatever the nonce), the proxy's
 * `initial_resource_versions` say what it already has, responses carry only resources whose
 * version differs from what the proxy has, and `removed_resources` names what went away.
 */
export class DeltaStream extends StreamBase<DeltaDiscoveryRequest> {
  private readonly types = new Map<TypeUrl, DeltaTypeState>();

  constructor(stream: StreamInfo, cache: SnapshotCache, private readonly send: (response: DeltaDiscoveryResponse) => void, logger: Logger, hooks: StreamHooks = {}) {
    super(stream, cache, logger, hooks);
  }

  protected handleType(typeUrl: TypeUrl, request: DeltaDiscoveryRequest): void {
    let state = this.types.get(typeUrl);
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    if (!state) {
      state = {
        // Legacy wildcard: the first LDS/CDS request subscribing to nothing in particular.
        wildcard: subscribe.includes('*') || (subscribe.length === 0 && WILDCARD_TYPES.has(typeUrl)),
        names: new Set(),
        known: new Map(Object.entries(request.initial_resource_versions ?? {})),
        nonce: undefined,
        version: undefined,
        started: false,
        deferredRemoval: false,
      };
      this.types.set(typeUrl, state);
    }
    const nonce = request.response_nonce ?? '';
    if (nonce !== '' && nonce === state.nonce) {
      if (request.error_detail) {
        const message = request.error_detail.message ?? '';
        this.logger.warn({ type: SHORT_NAMES[typeUrl], error: message }, 'proxy rejected configuration (delta NACK)');
        this.hooks.onNack?.(this.stream, typeUrl, state.version ?? '', message);
      } else {
        this.hooks.onAck?.(this.stream, typeUrl, state.version ?? '');
        this.acked(typeUrl);
      }
    }
    // Subscription changes apply even when the nonce is stale.
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === '*') state.wildcard = false;
      else {
        state.names.delete(name);
        state.known.delete(name);
      }
    }
    this.respond(typeUrl);
  }

  private wanted(typeUrl: TypeUrl, state: DeltaTypeState): Map<string, EncodedResource> {
    const all = this.snapshot?.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    if (state.wildcard) return new Map([...all].filter(([name]) => this.allowed(typeUrl, name)));
    const out = new Map<string, EncodedResource>();
    for (const name of state.names) {
      const r = all.get(name);
      if (r && this.allowed(typeUrl, name)) out.set(name, r);
    }
    return out;
  }

  /** Whether a type has changes its proxy has not been sent yet. */
  private pending(typeUrl: TypeUrl): boolean {
    const state = this.types.get(typeUrl);
    if (!state) return false;
    const wanted = this.wanted(typeUrl, state);
    return [...wanted.values()].some((r) => state.known.get(r.name) !== r.version) || [...state.known.keys()].some((n) => !wanted.has(n) && (state.wildcard || state.names.has(n)));
  }

  protected holdsRemovals(typeUrl: TypeUrl): boolean {
    return this.types.get(typeUrl)?.deferredRemoval ?? false;
  }

  protected respond(typeUrl: TypeUrl): void {
    const state = this.types.get(typeUrl);
    if (!state || !this.snapshot) return;
    const wanted = this.wanted(typeUrl, state);
    const changed = [...wanted.values()].filter((r) => state.known.get(r.name) !== r.version);
    // What the proxy has (or subscribed to and was told exists) that is no longer there.
    let removed = [...state.known.keys()].filter((name) => !wanted.has(name) && (state.wildcard || state.names.has(name)));
    // Removals last: clusters and endpoints go only once listener and route updates went out.
    const dependents = REMOVE_AFTER[typeUrl];
    state.deferredRemoval = false;
    if (removed.length > 0 && dependents?.some((t) => this.pending(t))) {
      removed = [];
      state.deferredRemoval = true;
    }
    const first = !state.started;
    state.started = true;
    if (changed.length === 0 && removed.length === 0 && !(first && state.known.size === 0)) return;
    for (const r of changed) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    const nonce = this.nextNonce();
    state.nonce = nonce;
    const version = versionOf([...wanted.values()]);
    state.version = version;
    this.send({
      system_version_info: version,
      resources: changed.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
      type_url: typeUrl,
      removed_resources: removed,
      nonce,
    });
    this.sent(typeUrl);
    this.hooks.onResponse?.(this.stream, typeUrl, version);
    for (const held of HELD_UNTIL[typeUrl]) if (this.types.get(held)?.deferredRemoval) this.respond(held);
  }
}

import type { Logger } from 'pino';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import type { Snapshot } from '../cache/snapshot.js';
import { isTypeUrl, PUSH_ORDER, TYPE_URLS, type TypeUrl } from '../resources.js';
import type { StreamHooks, StreamInfo } from './sotw-stream.js';

/** Clusters and endpoints are removed only after the listeners and routes that used them changed. */
export const REMOVE_AFTER: Partial<Record<TypeUrl, readonly TypeUrl[]>> = {
  [TYPE_URLS.cluster]: [TYPE_URLS.listener, TYPE_URLS.route],
  [TYPE_URLS.endpoint]: [TYPE_URLS.listener, TYPE_URLS.route],
};
/** The types whose held-back removals may follow a response of `typeUrl` (REMOVE_AFTER read the other way). */
export const HELD_UNTIL = Object.fromEntries(
  Object.values(TYPE_URLS).map((sent) => [sent, (Object.keys(REMOVE_AFTER) as TypeUrl[]).filter((held) => REMOVE_AFTER[held]!.includes(sent))]),
) as unknown as Readonly<Record<TypeUrl, readonly TypeUrl[]>>;

/**
 * What both protocol variants share: the node's current snapshot, kept by watching the cache, a
 * per-stream nonce counter, and the filtering of type URLs this control plane does not serve.
 * Subclasses answer one type at a time in `respond`, called on requests and, in push order, on
 * every new snapshot.
 */
export abstract class StreamBase<Req extends { type_url?: string }> {
  protected snapshot: Snapshot | undefined;
  private nonceCounter = 0;
  /** Responses sent on this stream so far. */
  private responses = 0;
  private readonly stopWatching: () => void;
  /** A change being delivered: when it happened, and the types sent for it that await an ACK. */
  private delivery: { since: number; unacked: Set<TypeUrl> } | undefined;

  constructor(
    protected readonly stream: StreamInfo,
    cache: SnapshotCache,
    protected readonly logger: Logger,
    protected readonly hooks: StreamHooks,
  ) {
    this.snapshot = cache.get(stream.identity.nodeId);
    // The first configuration counts from the connection (the snapshot was published just before).
    if (this.snapshot?.changedAt !== undefined) this.delivery = { since: this.snapshot.changedAt, unacked: new Set() };
    this.stopWatching = cache.watch(stream.identity.nodeId, (snapshot) => {
      const before = this.responses;
      const previous = this.snapshot;
      this.snapshot = snapshot;
      // A newer change supersedes one still being delivered: its clock starts later, which
      // under-reports rather than double-counts.
      this.delivery = snapshot.changedAt === undefined ? undefined : { since: snapshot.changedAt, unacked: new Set() };
      for (const typeUrl of PUSH_ORDER) {
        // A type whose resources are the very same map as before has nothing new to send.
        if (previous?.resources.get(typeUrl) !== snapshot.resources.get(typeUrl) || this.holdsRemovals(typeUrl)) this.respond(typeUrl);
      }
      if (this.delivery?.unacked.size === 0) this.delivery = undefined;
      return this.responses - before;
    });
  }

  /** Subclasses call this for every response they send. */
  protected sent(typeUrl: TypeUrl): void {
    this.responses++;
    this.delivery?.unacked.add(typeUrl);
  }

  /** Subclasses call this for every ACK; the last ACK of a change reports its delivery time. */
  protected acked(typeUrl: TypeUrl): void {
    const delivery = this.delivery;
    if (!delivery || !delivery.unacked.delete(typeUrl) || delivery.unacked.size > 0) return;
    this.delivery = undefined;
    this.hooks.onDelivered?.(this.stream, performance.now() - delivery.since);
  }

  close(): void {
    this.stopWatching();
  }

  handle(request: Req): void {
    const typeUrl = request.type_url ?? '';
    if (!isTypeUrl(typeUrl) || (this.stream.secretsOnly && typeUrl !== TYPE_URLS.secret)) {
      this.logger.debug({ typeUrl }, 'request for a type this stream does not serve; ignored');
      return;
    }
    this.handleType(typeUrl, request);
  }

  private warnedKeys = false;

  /** Identity secrets carry a private key: only over TLS or to a loopback peer. */
  protected allowed(typeUrl: TypeUrl, name: string): boolean {
    if (typeUrl !== TYPE_URLS.secret || this.stream.allowPrivateKeys || !name.startsWith('identity_cert:')) return true;
    if (!this.warnedKeys) {
      this.warnedKeys = true;
      this.logger.warn('withholding the identity certificate: its private key would travel over plaintext to a non-loopback peer; enable xDS TLS');
    }
    return false;
  }

  protected nextNonce(): string {
    return String(++this.nonceCounter);
  }

  /** Whether the last response of a type kept removed resources back (removals last). */
  protected abstract holdsRemovals(typeUrl: TypeUrl): boolean;
  protected abstract handleType(typeUrl: TypeUrl, request: Req): void;
  protected abstract respond(typeUrl: TypeUrl): void;
}

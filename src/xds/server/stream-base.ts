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

/**
 * What both protocol variants share: the node's current snapshot, kept by watching the cache, a
 * per-stream nonce counter, and the filtering of type URLs this control plane does not serve.
 * Subclasses answer one type at a time in `respond`, called on requests and, in push order, on
 * every new snapshot.
 */
export abstract class StreamBase<Req extends { type_url?: string }> {
  protected snapshot: Snapshot | undefined;
  private nonceCounter = 0;
  private readonly stopWatching: () => void;

  constructor(
    protected readonly stream: StreamInfo,
    cache: SnapshotCache,
    protected readonly logger: Logger,
    protected readonly hooks: StreamHooks,
  ) {
    this.snapshot = cache.get(stream.identity.nodeId);
    this.stopWatching = cache.watch(stream.identity.nodeId, (snapshot) => {
      this.snapshot = snapshot;
      for (const typeUrl of PUSH_ORDER) this.respond(typeUrl);
    });
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

  protected abstract handleType(typeUrl: TypeUrl, request: Req): void;
  protected abstract respond(typeUrl: TypeUrl): void;
}

import { isStoreUnavailable } from '../../core/errors.js';
import { status, type Metadata, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import { credentialOf, identify, type NodeInfo, type ProxyIdentity } from './identity.js';
import { isLoopbackAddress } from '../../auth/localhost.js';
import { DeltaStream, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './delta-stream.js';
import { SotwStream, type DiscoveryRequest, type DiscoveryResponse, type StreamHooks, type StreamInfo } from './sotw-stream.js';

/** A refusal with the gRPC status the proxy sees. */
export class StreamRefused extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'StreamRefused';
  }
}

/** The pluggable authentication step (`dpServer.authn.dpProxy.type`), run before anything is served. */
export interface ProxyAuthenticator {
  /**
   * Resolves when `credential` proves the proxy is `identity`; throws StreamRefused otherwise.
   * `peerAddress` is the IP the stream comes from (for credentials bound to address ranges).
   */
  authenticate(identity: ProxyIdentity, credential: string | undefined, node: NodeInfo, peerAddress?: string): Promise<void>;
}

/** `dpServer.authn.dpProxy.type: none`: every proxy is who its node id says. */
export const noAuthentication: ProxyAuthenticator = { authenticate: async () => {} };

/**
 * The mesh-aware side of a stream, implemented by the reconciler: admit a proxy (its Dataplane must
 * exist; its snapshot is built before this resolves) and forget it when its last stream ends.
 */
export interface ProxyRegistry {
  connect(identity: ProxyIdentity): Promise<void>;
  disconnect(identity: ProxyIdentity): void;
}

export interface AdsServiceDeps {
  /** The server's transport is TLS (private keys may then be sent to any authenticated proxy). */
  secureTransport: boolean;
  cache: SnapshotCache;
  registry: ProxyRegistry;
  authenticator: ProxyAuthenticator;
  logger: Logger;
  hooks?: StreamHooks;
}

/** One protocol variant's state for one stream (state of the world or delta). */
interface ProtocolSession<Req> {
  handle(request: Req): void;
  close(): void;
}

type AnyCall = ServerDuplexStream<any, any>;

/** The IP of a gRPC peer: `127.0.0.1:51234`, `[::1]:51234`, either with an `ipv4:`/`ipv6:` prefix. */
function peerIp(peer: string): string | undefined {
  const match = /^(?:ipv[46]:)?(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(peer);
  return match?.[1] ?? match?.[2];
}

function refuse(call: AnyCall, code: status, details: string): void {
  call.emit('error', { code, details });
}

/**
 * `AggregatedDiscoveryService`: state-of-the-world ADS on `StreamAggregatedResources`, incremental on
 * `DeltaAggregatedResources`. Each stream is admitted on its first request (node identity,
 * authentication, Dataplane lookup) and is independent of every other: a proxy sending garbage
 * or NACKing is answered or closed on its own stream only.
 */
export function adsService(deps: AdsServiceDeps): {
  implementation: UntypedServiceImplementation;
  secretsImplementation: UntypedServiceImplementation;
  closeAll(): void;
  revalidate(mesh?: string): Promise<number>;
} {
  let streamCounter = 0;
  const open = new Set<AnyCall>();
  /** Admitted streams with the credential they were admitted with, for re-checks after revocations. */
  const admitted = new Map<AnyCall, { identity: ProxyIdentity; credential: string | undefined; node: NodeInfo; peerAddress: string | undefined }>();

  function serve<Req extends { node?: NodeInfo }>(call: AnyCall, kind: StreamInfo['protocol'], createSession: (stream: StreamInfo, logger: Logger) => ProtocolSession<Req>, secretsOnly = false) {
    const streamId = ++streamCounter;
    // One child logger per stream, made once its node is known (pino's child() serialises its
    // bindings: two per stream cost 10,000 connecting proxies a visible share of the sync).
    let logger: Logger | undefined;
    const log = (): Logger => (logger ??= deps.logger.child({ stream: streamId, protocol: kind }));
    let session: { info: StreamInfo; protocol: ProtocolSession<Req> } | undefined;
    let opening: Promise<void> | undefined;
    const queued: Req[] = [];
    let closed = false;

    open.add(call);
    const cleanup = () => {
      open.delete(call);
      admitted.delete(call);
      if (closed) return;
      closed = true;
      if (session) {
        session.protocol.close();
        deps.registry.disconnect(session.info.identity);
        deps.hooks?.onStreamClose?.(session.info);
        log().info('stream closed');
      }
    };
    call.on('end', () => {
      cleanup();
      call.end();
    });
    call.on('error', (err: Error) => {
      log().debug({ err: err.message }, 'stream error');
      cleanup();
    });
    call.on('cancelled', cleanup);
    call.on('close', cleanup);

    const admit = async (first: Req, metadata: Metadata) => {
      const result = identify(first.node);
      if (!result.ok) throw new StreamRefused(status.INVALID_ARGUMENT, result.message);
      const { identity } = result;
      logger = deps.logger.child({ stream: streamId, protocol: kind, node: identity.nodeId });
      const credential = credentialOf(metadata, first.node);
      const peerAddress = peerIp(call.getPeer());
      await deps.authenticator.authenticate(identity, credential, first.node ?? {}, peerAddress);
      await deps.registry.connect(identity);
      if (closed) {
        deps.registry.disconnect(identity);
        return;
      }
      const info: StreamInfo = { id: `${streamId}`, protocol: kind, identity, allowPrivateKeys: deps.secureTransport || isLoopbackAddress(peerAddress), secretsOnly };
      session = { info, protocol: createSession(info, logger) };
      admitted.set(call, { identity, credential, node: first.node ?? {}, peerAddress });
      deps.hooks?.onStreamOpen?.(info);
      logger.info({ proxyless: identity.proxyless }, 'proxy connected');
    };

    call.on('data', (request: Req) => {
      if (closed) return;
      if (session) {
        session.protocol.handle(request);
        return;
      }
      queued.push(request);
      opening ??= admit(request, call.metadata).then(
        () => {
          for (const r of queued.splice(0)) session?.protocol.handle(r);
        },
        (err: unknown) => {
          // The store being down is no fault of the proxy's: UNAVAILABLE tells it to reconnect with backoff.
          const outage = isStoreUnavailable(err);
          const code = err instanceof StreamRefused ? err.code : outage ? status.UNAVAILABLE : status.INTERNAL;
          const details = err instanceof StreamRefused ? err.message : outage ? 'the control plane store is unavailable; reconnect later' : 'could not serve this proxy; see the control plane log';
          if (outage) log().warn({ err: (err as Error).message }, 'stream refused: store unavailable');
          else if (!(err instanceof StreamRefused)) log().error({ err }, 'opening stream failed');
          else log().warn({ code: status[code], details }, 'stream refused');
          closed = true;
          open.delete(call);
          refuse(call, code, details);
        },
      );
    });
  }

  return {
    implementation: {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) =>
        serve<DiscoveryRequest>(call, 'sotw', (info, logger) => new SotwStream(info, deps.cache, (r) => call.write(r), logger, deps.hooks)),
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) =>
        serve<DeltaDiscoveryRequest>(call, 'delta', (info, logger) => new DeltaStream(info, deps.cache, (r) => call.write(r), logger, deps.hooks)),
    },
    /**
     * Runs the authentication step again for every admitted stream of `mesh` (every mesh when
     * undefined) after its token keys or revocations changed, and ends, with the refusal's status,
     * those it no longer admits.
     */
    async revalidate(mesh?: string): Promise<number> {
      let closed = 0;
      for (const [call, entry] of [...admitted]) {
        if (mesh !== undefined && entry.identity.mesh !== mesh) continue;
        try {
          await deps.authenticator.authenticate(entry.identity, entry.credential, entry.node, entry.peerAddress);
        } catch (err) {
          const code = err instanceof StreamRefused ? err.code : status.UNAUTHENTICATED;
          deps.logger.warn({ node: entry.identity.nodeId, reason: (err as Error).message }, 'closing a stream whose credential is no longer valid');
          admitted.delete(call);
          refuse(call, code, err instanceof Error ? err.message : 'credential no longer valid');
          closed++;
        }
      }
      return closed;
    },
    /** The SecretDiscoveryService (5677): the same admission and protocols, SDS secrets only. */
    secretsImplementation: {
      StreamSecrets: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) =>
        serve<DiscoveryRequest>(call, 'sotw', (info, logger) => new SotwStream(info, deps.cache, (r) => call.write(r), logger, deps.hooks), true),
      DeltaSecrets: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) =>
        serve<DeltaDiscoveryRequest>(call, 'delta', (info, logger) => new DeltaStream(info, deps.cache, (r) => call.write(r), logger, deps.hooks), true),
      FetchSecrets: (_call: unknown, callback: (err: { code: status; details: string }) => void) =>
        callback({ code: status.UNIMPLEMENTED, details: 'use the StreamSecrets or DeltaSecrets stream' }),
    } as UntypedServiceImplementation,
    /** Ends every stream with UNAVAILABLE, so proxies reconnect (to another instance) at once. */
    closeAll() {
      for (const call of [...open]) refuse(call, status.UNAVAILABLE, 'control plane is shutting down');
    },
  };
}

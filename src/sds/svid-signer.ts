import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { issueLeaf, type IssuedSvid, type LeafSigner } from './leaf.js';
import type { SvidTemplateParts } from './svid-template.js';

/** A dataplane's certificate request: its SPIFFE ID, and the holder and window it is derived from. */
export interface LeafRequest {
  spiffeId: string;
  validForMs: number;
  holder: string;
  windowStartMs: number;
}

/** Issues deterministic SVIDs (leaf.ts `issueLeaf`), here or elsewhere: the bytes are the same. */
export interface SvidSigner {
  issue(caId: string, ca: LeafSigner, request: LeafRequest): Promise<IssuedSvid>;
  close(): Promise<void>;
}

const issueHere = (ca: LeafSigner, r: LeafRequest): IssuedSvid => issueLeaf({ spiffeId: r.spiffeId, validForMs: r.validForMs, ca, deterministic: { holder: r.holder, windowStartMs: r.windowStartMs } });

/** Signs on the calling thread. */
export const inProcessSigner: SvidSigner = {
  issue: async (_caId, ca, request) => issueHere(ca, request),
  close: async () => {},
};

/**
 * CAs a worker keeps. They change rarely; the bound keeps a long-lived worker from holding every CA
 * it ever saw. The pool and the worker both start over when a new CA would exceed it.
 */
export const MAX_WORKER_CAS = 64;

/** What the worker (svid-worker.ts) is sent and answers. */
export interface SignRequestMessage {
  seq: number;
  caId: string;
  /** Sent the first time a worker is asked for a CA's leaves. */
  ca?: { seed: Buffer; parts: SvidTemplateParts };
  request: LeafRequest;
}
export type SignResultMessage = { seq: number; certPem: string; keyPem: string; notAfterMs: number } | { seq: number; error: string };

interface Pending {
  caId: string;
  ca: LeafSigner;
  request: LeafRequest;
  resolve: (svid: IssuedSvid) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  cas: Set<string>;
  pending: Map<number, Pending>;
}

/** Workers lost within a minute before no new one is started and this thread signs instead. */
const MAX_LOSSES_A_MINUTE = 3;
/** Certificates signed on this thread per turn of the event loop, when it signs. */
const LOCAL_BATCH = 16;

/**
 * Signs on worker threads, so turning mTLS on for a mesh does not put every CA signature and key
 * derivation on the event loop: the reconciler asks for the certificates of the proxies it is
 * about to publish, and generates configuration while the workers sign. What a worker that stops
 * had not answered goes to a new worker (at most three a minute), else to this thread, a few
 * certificates a turn so the event loop keeps serving; nothing is lost. Workers hold no
 * reference on the process while idle.
 */
export class WorkerSigner implements SvidSigner {
  private readonly workers: PoolWorker[] = [];
  private seq = 0;
  private closing = false;
  private losses: number[] = [];
  private readonly local: Pending[] = [];
  private draining = false;

  /**
   * Workers start as certificates are asked for, up to `count`: a control plane with no mTLS mesh
   * runs none.
   */
  constructor(
    private readonly count = defaultWorkerCount(),
    /** Told when a worker stops unasked (its requests are then signed elsewhere). */
    private readonly onWorkerLost: (err: unknown) => void = () => {},
  ) {}

  /** How many worker threads sign (0: on this thread). */
  get size(): number {
    return this.workers.length;
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./svid-worker.js', import.meta.url));
    const entry: PoolWorker = { worker, cas: new Set(), pending: new Map() };
    worker.on('message', (m: SignResultMessage) => {
      const pending = entry.pending.get(m.seq);
      if (!pending) return;
      entry.pending.delete(m.seq);
      if (entry.pending.size === 0) worker.unref();
      if ('error' in m) pending.reject(new Error(`signing a certificate failed: ${m.error}`));
      else pending.resolve({ certPem: m.certPem, keyPem: m.keyPem, notAfter: new Date(m.notAfterMs) });
    });
    const lost = (err: unknown) => {
      const at = this.workers.indexOf(entry);
      if (at < 0) return; // told twice ('error', then 'exit')
      this.workers.splice(at, 1);
      this.losses.push(Date.now());
      this.onWorkerLost(err);
      const pending = [...entry.pending.values()];
      entry.pending.clear();
      for (const p of pending) this.dispatch(p);
    };
    worker.on('error', lost);
    worker.on('exit', (code: number) => lost(new Error(`the signing worker exited with code ${code}`)));
    worker.unref(); // after the listeners: adding a 'message' listener refs the worker's port again
    this.workers.push(entry);
    return entry;
  }

  private mayStartWorker(): boolean {
    if (this.closing || this.workers.length >= this.count) return false;
    const now = Date.now();
    this.losses = this.losses.filter((t) => now - t < 60_000);
    return this.losses.length < MAX_LOSSES_A_MINUTE;
  }

  private dispatch(p: Pending): void {
    let target: PoolWorker | undefined = this.mayStartWorker() ? this.spawn() : undefined;
    for (const w of this.workers) if (!target || w.pending.size < target.pending.size) target = w;
    if (!target || this.closing) {
      this.signHere(p);
      return;
    }
    const seq = ++this.seq;
    const message: SignRequestMessage = { seq, caId: p.caId, request: p.request };
    if (!target.cas.has(p.caId)) {
      if (target.cas.size >= MAX_WORKER_CAS) target.cas.clear();
      message.ca = { seed: p.ca.seed, parts: p.ca.template.parts };
      target.cas.add(p.caId);
    }
    target.pending.set(seq, p);
    if (target.pending.size === 1) target.worker.ref();
    target.worker.postMessage(message);
  }

  private signHere(p: Pending): void {
    this.local.push(p);
    if (this.draining) return;
    this.draining = true;
    const drain = () => {
      for (let i = 0; i < LOCAL_BATCH && this.local.length > 0; i++) {
        const next = this.local.shift()!;
        try {
          next.resolve(issueHere(next.ca, next.request));
        } catch (err) {
          next.reject(err as Error);
        }
      }
      if (this.local.length > 0) setImmediate(drain);
      else this.draining = false;
    };
    setImmediate(drain);
  }

  issue(caId: string, ca: LeafSigner, request: LeafRequest): Promise<IssuedSvid> {
    return new Promise<IssuedSvid>((resolve, reject) => this.dispatch({ caId, ca, request, resolve, reject }));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.splice(0).map(async (w) => {
        w.worker.removeAllListeners('exit');
        w.worker.removeAllListeners('error');
        const pending = [...w.pending.values()];
        w.pending.clear();
        await w.worker.terminate();
        for (const p of pending) p.reject(new Error('the certificate signer was closed'));
      }),
    );
  }
}

/** One worker per core but the event loop's, at most four; none on a single core. */
export function defaultWorkerCount(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

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
  resolve: (svid: IssuedSvid) => void;
  reject: (err: Error) => void;
  ca: LeafSigner;
  request: LeafRequest;
}

interface PoolWorker {
  worker: Worker;
  cas: Set<string>;
  pending: Map<number, Pending>;
  alive: boolean;
}

/**
 * Signs on worker threads, so turning mTLS on for a mesh does not put every RSA signature and key
 * derivation on the event loop: the reconciler asks for the certificates of the proxies it is
 * about to publish, and generates configuration while the workers sign. A worker that dies hands
 * its requests back to this thread; none is lost. Workers hold no reference on the process while
 * idle.
 */
export class WorkerSigner implements SvidSigner {
  private readonly workers: PoolWorker[] = [];
  private seq = 0;
  private closing = false;
  private started = false;

  /** Workers start with the first certificate: a control plane with no mTLS mesh runs none. */
  constructor(private readonly count = defaultWorkerCount()) {}

  /** How many worker threads sign (0: on this thread, as `inProcessSigner`). */
  get size(): number {
    return this.workers.filter((w) => w.alive).length;
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./svid-worker.js', import.meta.url));
    const entry: PoolWorker = { worker, cas: new Set(), pending: new Map(), alive: true };
    worker.on('message', (m: SignResultMessage) => {
      const pending = entry.pending.get(m.seq);
      if (!pending) return;
      entry.pending.delete(m.seq);
      if (entry.pending.size === 0) worker.unref();
      if ('error' in m) pending.reject(new Error(`signing a certificate failed: ${m.error}`));
      else pending.resolve({ certPem: m.certPem, keyPem: m.keyPem, notAfter: new Date(m.notAfterMs) });
    });
    const lost = () => {
      if (!entry.alive) return;
      entry.alive = false;
      // What it had not answered is signed here instead.
      for (const p of entry.pending.values()) {
        try {
          p.resolve(issueHere(p.ca, p.request));
        } catch (err) {
          p.reject(err as Error);
        }
      }
      entry.pending.clear();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    worker.unref(); // after the listeners: adding a 'message' listener refs the worker's port again
    return entry;
  }

  async issue(caId: string, ca: LeafSigner, request: LeafRequest): Promise<IssuedSvid> {
    if (!this.started && !this.closing) {
      this.started = true;
      for (let i = 0; i < this.count; i++) this.workers.push(this.spawn());
    }
    let target: PoolWorker | undefined;
    for (const w of this.workers) if (w.alive && (!target || w.pending.size < target.pending.size)) target = w;
    if (!target || this.closing) return issueHere(ca, request);
    const chosen = target;
    const seq = ++this.seq;
    const message: SignRequestMessage = { seq, caId, request };
    if (!chosen.cas.has(caId)) {
      if (chosen.cas.size >= MAX_WORKER_CAS) chosen.cas.clear();
      message.ca = { seed: ca.seed, parts: ca.template.parts };
      chosen.cas.add(caId);
    }
    return new Promise<IssuedSvid>((resolve, reject) => {
      chosen.pending.set(seq, { resolve, reject, ca, request });
      if (chosen.pending.size === 1) chosen.worker.ref();
      chosen.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(async (w) => {
        w.worker.removeAllListeners('exit');
        w.worker.removeAllListeners('error');
        const pending = [...w.pending.values()];
        w.pending.clear();
        w.alive = false;
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

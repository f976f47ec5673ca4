import type { Logger } from 'pino';
import { isAlreadyExists, isConflict, isNotFound } from '../core/errors.js';
import type { ResourceStore, WriteOp } from '../store/store.js';
import type { StoredResource } from '../core/model.js';
import { SHORT_NAMES, type TypeUrl } from './resources.js';
import type { StreamHooks, StreamInfo } from './server/sotw-stream.js';

type Short = 'cds' | 'eds' | 'lds' | 'rds';
const COUNTED: readonly Short[] = ['cds', 'eds', 'lds', 'rds'];
/** Kuma keeps a bounded history of subscriptions per dataplane; so do we. */
const MAX_SUBSCRIPTIONS = 5;
/** Insight writes per transaction in a flush. */
const FLUSH_BATCH = 500;

const FIELDS = ['responsesSent', 'responsesAcknowledged', 'responsesRejected'] as const;
type Field = (typeof FIELDS)[number];
const FIELD_INDEX = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;
/** Where a group's counters start in `Subscription.counters`: the total, then each counted type. */
const TOTAL = 0;
const GROUP = Object.fromEntries(COUNTED.map((short, i) => [short, (i + 1) * FIELDS.length])) as Record<Short, number>;
const COUNTERS = (COUNTED.length + 1) * FIELDS.length;

/** What the inspect endpoint shows of one type on one stream. */
export interface TypeState {
  lastSentVersion?: string;
  lastAckedVersion?: string;
  lastNack?: { version: string; message: string; time: string };
}

interface Subscription {
  stream: StreamInfo;
  connectTime: string;
  disconnectTime?: string;
  /** `Date.now()` of the last event; formatted only when written (events are many, writes few). */
  lastUpdateMs: number;
  /**
   * The counters of the total and of each type (TOTAL, GROUP), one per field (FIELDS), in one array:
   * every response and ACK bumps two of them, and one small array is one object to touch instead
   * of five (at 10,000 proxies, those objects were most of what a push spent here).
   */
  counters: number[];
  types: Partial<Record<string, TypeState>>;
}

const total = (sub: Subscription, field: Field): number => sub.counters[TOTAL + FIELD_INDEX[field]]!;

/** Kuma's JSON shows uint64 counters as strings and leaves zero ones out. */
function countersJson(counters: readonly number[], group: number): Record<string, string> {
  const out: Record<string, string> = {};
  FIELDS.forEach((field, i) => {
    const value = counters[group + i]!;
    if (value) out[field] = String(value);
  });
  return out;
}

/**
 * What a flush keeps of the DataplaneInsight it wrote, to write the next one without reading it
 * back: its version, and its spec without the subscriptions of streams still open (every flush
 * writes those again from memory). At 10,000 proxies the whole written insights held 10 MB of heap; this, 3 MB.
 */
interface Written {
  version: number;
  spec: Record<string, unknown>;
}

function writtenOf(stored: StoredResource, open: ReadonlySet<string>): Written {
  const subscriptions = (stored.spec.subscriptions as Array<Record<string, unknown>> | undefined) ?? [];
  return { version: stored.version, spec: { ...stored.spec, subscriptions: subscriptions.filter((s) => !open.has(s.id as string)) } };
}

/**
 * Records every ADS subscription as Kuma's DataplaneInsight (connect/disconnect time, the instance
 * serving it, responses sent/ACKed/NACKed per type) and writes the changed ones to the store at
 * most once per `flushMs`. Insight writes never trigger configuration recomputation.
 */
export class InsightRecorder implements StreamHooks {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Stream ids per node, so a flush or an inspect looks at one node's streams only. */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  /** Kuma's `mTLS` insight per node: the current certificate's expiry and how often it was issued. */
  private readonly certificates = new Map<string, { certificateExpirationTime: string; lastCertificateRegeneration: string; certificateRegenerations: number }>();
  /** The DataplaneInsight we last wrote per node, so a flush need not read it back. */
  private readonly written = new Map<string, Written>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  /** Responses sent and not yet ACKed or NACKed, over all open streams. */
  private outstanding = 0;
  private lastSentMs = 0;

  constructor(
    private readonly store: ResourceStore,
    private readonly instanceId: string,
    flushMs: number,
    private readonly logger: Logger,
    /**
     * While configuration is being generated or pushed, status writes wait (up to ten intervals):
     * they compete for the same CPU. A push is in flight while responses sent in the last interval
     * are still unanswered.
     */
    busy: () => boolean = () => false,
    /** Only the leader deletes the insights of deleted Dataplanes (every instance hears of the delete). */
    isLeader: () => boolean = () => true,
  ) {
    let deferred = 0;
    this.timer = setInterval(() => {
      const pushing = this.outstanding > 0 && Date.now() - this.lastSentMs < flushMs;
      if ((busy() || pushing) && deferred < 10) {
        deferred++;
        return;
      }
      deferred = 0;
      void this.flush();
    }, flushMs);
    this.timer.unref();
    // A deleted Dataplane takes its insight with it.
    this.unsubscribe = store.subscribe((event) => {
      if (event.action !== 'delete' || event.type !== 'Dataplane' || !isLeader()) return;
      this.store.delete({ type: 'DataplaneInsight', mesh: event.mesh, name: event.name }).catch((err: unknown) => {
        if (!isNotFound(err)) this.logger.warn({ err }, 'could not delete the insight of a deleted dataplane');
      });
    });
  }

  private touch(stream: StreamInfo, update: (s: Subscription) => void): void {
    const sub = this.subscriptions.get(stream.id);
    if (!sub) return;
    update(sub);
    sub.lastUpdateMs = Date.now();
    this.dirty.add(stream.identity.nodeId);
  }

  /** Counts a response, ACK or NACK on the stream; returns the stream's subscription, if known. */
  private count(stream: StreamInfo, typeUrl: TypeUrl, field: Field): Subscription | undefined {
    const sub = this.subscriptions.get(stream.id);
    if (!sub) return undefined;
    const i = FIELD_INDEX[field];
    sub.counters[TOTAL + i]!++;
    if (!sub.disconnectTime) this.outstanding += field === 'responsesSent' ? 1 : -1;
    const short = SHORT_NAMES[typeUrl];
    if (short !== 'sds') sub.counters[GROUP[short] + i]!++;
    sub.lastUpdateMs = Date.now();
    this.dirty.add(stream.identity.nodeId);
    return sub;
  }

  private typeState(sub: Subscription, typeUrl: TypeUrl): TypeState {
    return (sub.types[SHORT_NAMES[typeUrl]] ??= {});
  }

  private streams(nodeId: string): Subscription[] {
    return [...(this.byNode.get(nodeId) ?? [])].map((id) => this.subscriptions.get(id)!);
  }

  private forget(sub: Subscription): void {
    this.subscriptions.delete(sub.stream.id);
    const ids = this.byNode.get(sub.stream.identity.nodeId);
    ids?.delete(sub.stream.id);
    if (ids?.size === 0) this.byNode.delete(sub.stream.identity.nodeId);
  }

  /** A certificate was issued to a node (mesh mTLS): recorded in its insight at the next flush. */
  recordCertificate(nodeId: string, notAfter: Date): void {
    const previous = this.certificates.get(nodeId);
    this.certificates.set(nodeId, {
      certificateExpirationTime: notAfter.toISOString(),
      lastCertificateRegeneration: new Date().toISOString(),
      certificateRegenerations: (previous?.certificateRegenerations ?? 0) + 1,
    });
    this.dirty.add(nodeId);
  }

  onStreamOpen(stream: StreamInfo): void {
    const now = new Date().toISOString();
    let ids = this.byNode.get(stream.identity.nodeId);
    if (!ids) this.byNode.set(stream.identity.nodeId, (ids = new Set()));
    ids.add(stream.id);
    this.subscriptions.set(stream.id, {
      stream,
      connectTime: now,
      lastUpdateMs: Date.now(),
      counters: Array.from({ length: COUNTERS }, () => 0),
      types: {},
    });
    this.dirty.add(stream.identity.nodeId);
  }

  onStreamClose(stream: StreamInfo): void {
    this.touch(stream, (sub) => {
      if (!sub.disconnectTime) this.outstanding -= total(sub, 'responsesSent') - total(sub, 'responsesAcknowledged') - total(sub, 'responsesRejected');
      sub.disconnectTime = new Date().toISOString();
    });
  }

  onResponse(stream: StreamInfo, typeUrl: TypeUrl, version: string): void {
    this.lastSentMs = Date.now();
    const sub = this.count(stream, typeUrl, 'responsesSent');
    if (sub) this.typeState(sub, typeUrl).lastSentVersion = version;
  }

  onAck(stream: StreamInfo, typeUrl: TypeUrl, version: string): void {
    const sub = this.count(stream, typeUrl, 'responsesAcknowledged');
    if (sub) this.typeState(sub, typeUrl).lastAckedVersion = version;
  }

  onNack(stream: StreamInfo, typeUrl: TypeUrl, version: string, message: string): void {
    const sub = this.count(stream, typeUrl, 'responsesRejected');
    if (sub) this.typeState(sub, typeUrl).lastNack = { version, message, time: new Date().toISOString() };
  }

  /** Per stream of a node: protocol, connect time and per-type ACK/NACK state (inspect endpoint). */
  streamsOf(nodeId: string): Array<{ id: string; protocol: string; connectTime: string; types: Partial<Record<string, TypeState>> }> {
    return this.streams(nodeId)
      .filter((s) => !s.disconnectTime)
      .map((s) => ({ id: s.stream.id, protocol: s.stream.protocol, connectTime: s.connectTime, types: s.types }));
  }

  private subscriptionId(sub: Subscription): string {
    return `${this.instanceId}-${sub.stream.id}`;
  }

  private subscriptionJson(sub: Subscription): Record<string, unknown> {
    const status: Record<string, unknown> = { lastUpdateTime: new Date(sub.lastUpdateMs).toISOString(), total: countersJson(sub.counters, TOTAL) };
    for (const short of COUNTED) status[short] = countersJson(sub.counters, GROUP[short]);
    return {
      id: this.subscriptionId(sub),
      controlPlaneInstanceId: this.instanceId,
      connectTime: sub.connectTime,
      ...(sub.disconnectTime ? { disconnectTime: sub.disconnectTime } : {}),
      status,
    };
  }

  /** Writes every changed insight; closed subscriptions are dropped from memory once written. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow()).catch((err: unknown) => this.logger.warn({ err }, 'insight flush failed'));
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const nodes = [...this.dirty];
    this.dirty.clear();
    // Batches of writes in one transaction each (one fsync on SQLite instead of one per proxy), with
    // a yield between batches so a flush of thousands never holds up configuration pushes.
    for (let at = 0; at < nodes.length; at += FLUSH_BATCH) {
      if (at > 0) await new Promise((r) => setImmediate(r));
      const batch: Array<{ nodeId: string; subs: Subscription[]; op: WriteOp }> = [];
      for (const nodeId of nodes.slice(at, at + FLUSH_BATCH)) {
        const subs = this.streams(nodeId);
        if (subs.length === 0) continue;
        const { mesh, name } = subs[0]!.stream.identity;
        try {
          const op = await this.writeOp(nodeId, mesh, name, subs.map((s) => this.subscriptionJson(s)), this.certificates.get(nodeId));
          if (op) batch.push({ nodeId, subs, op });
          else for (const s of subs) if (s.disconnectTime) this.forget(s);
        } catch (err) {
          this.dirty.add(nodeId);
          this.logger.warn({ err, node: nodeId }, 'could not read DataplaneInsight');
        }
      }
      if (batch.length === 0) continue;
      const results = await this.store.writeMany(batch.map((b) => b.op));
      results.forEach((result, i) => {
        const { nodeId, subs } = batch[i]!;
        if (result instanceof Error) {
          this.written.delete(nodeId); // read it again next time
          this.dirty.add(nodeId); // retried at the next flush
          if (!isConflict(result) && !isAlreadyExists(result) && !isNotFound(result)) this.logger.warn({ err: result, node: nodeId }, 'could not write DataplaneInsight');
        } else {
          this.written.set(nodeId, writtenOf(result, new Set(subs.filter((s) => !s.disconnectTime).map((s) => this.subscriptionId(s)))));
          for (const s of subs) if (s.disconnectTime) this.forget(s);
          if (this.streams(nodeId).length === 0) {
            this.written.delete(nodeId);
            this.certificates.delete(nodeId);
          }
        }
      });
    }
  }

  /** The write that merges our subscriptions into a node's DataplaneInsight; none if its Dataplane is gone. */
  private async writeOp(nodeId: string, mesh: string, name: string, ours: Array<Record<string, unknown>>, mTLS?: Record<string, unknown>): Promise<WriteOp | undefined> {
    const key = { type: 'DataplaneInsight' as const, mesh, name };
    // What we wrote last is current unless another instance wrote since: then the update is a
    // conflict, and the next flush reads it again.
    let existing: Written | undefined = this.written.get(nodeId);
    if (!existing) {
      if (!(await this.store.get({ type: 'Dataplane', mesh, name }))) return undefined; // deleted meanwhile
      existing = await this.store.get(key);
    }
    const ids = new Set(ours.map((s) => s.id));
    const previous = ((existing?.spec.subscriptions as Array<Record<string, unknown>> | undefined) ?? []).filter((s) => !ids.has(s.id));
    const subscriptions = [...previous, ...ours].slice(-MAX_SUBSCRIPTIONS);
    const resource = { ...key, spec: { ...(existing?.spec ?? {}), subscriptions, ...(mTLS ? { mTLS } : {}) } };
    return existing ? { op: 'update', resource, expectedVersion: existing.version } : { op: 'create', resource };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    await this.flush();
  }
}


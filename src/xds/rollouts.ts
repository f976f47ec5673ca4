import type { RolloutPart, RolloutProxyState } from '../store/cluster.js';
import type { StreamInfo } from './server/sotw-stream.js';
import { PUSH_ORDER, type TypeUrl } from './resources.js';

/**
 * Where a change has arrived, on this instance: every write through the API names a rollout and
 * its change event starts it here, on the writer's instance and on every other one sharing the
 * store (the event carries the id). The reconcile that reads the write claims it and, for each
 * connected proxy whose streams it sends something, counts the proxy as concerned; the stream
 * hooks then settle the proxy as acknowledged (every type sent since is ACKed, so a later change
 * that supersedes this one counts too), rejected (a NACK, with its message) or offline (its stream
 * closed first). What the instances together know is merged by src/xds/rollout-exchange.ts.
 * Memory is a few small objects per rollout and per concerned proxy, and a bounded history.
 */
export type ProxyState = RolloutProxyState;

/** A rollout as the API shows it: every instance's parts merged (rollout-exchange.ts). */
export interface RolloutView {
  id: string;
  resource: RolloutPart['resource'];
  operation: RolloutPart['operation'];
  startTime: string;
  endTime: string | null;
  concerned: number;
  acknowledged: number;
  rejected: number;
  pending: number;
  dataplanes: Array<RolloutPart['dataplanes'][number] & { instance: string }>;
}

/** The mesh a rollout's resource belongs to (a Mesh is its own). */
const meshOf = (resource: RolloutPart['resource']) => (resource.type === 'Mesh' ? resource.name : resource.mesh);

interface Rollout {
  id: string;
  resource: RolloutPart['resource'];
  operation: RolloutPart['operation'];
  started: number;
  ended: number | undefined;
  /** Claimed by a reconcile that has finished publishing. */
  published: boolean;
  proxies: Map<string, Readonly<{ state: ProxyState; error?: string }>>;
  /** How many of `proxies` are pending (kept, not counted: a rollout may concern thousands). */
  pending: number;
}

export interface RolloutObserver {
  onEnded?(seconds: number): void;
  onNack?(typeUrl: string): void;
}

const HISTORY = 1000;

interface NodeState {
  /** The types sent to the node and not yet ACKed or NACKed, one bit each (TYPE_BITS). */
  inFlight: number;
  /** The rollouts the node is pending in (usually one: an array, not a set made per push). */
  pending: Rollout[] | undefined;
}

/** A proxy's entry in a rollout when there is no error to keep: one shared object per state (entries are replaced, never edited). */
const SETTLED: Readonly<Record<ProxyState, Readonly<{ state: ProxyState }>>> = {
  pending: Object.freeze({ state: 'pending' }),
  acknowledged: Object.freeze({ state: 'acknowledged' }),
  rejected: Object.freeze({ state: 'rejected' }),
  offline: Object.freeze({ state: 'offline' }),
};

const TYPE_BITS = Object.fromEntries(PUSH_ORDER.map((typeUrl, i) => [typeUrl, 1 << i])) as Record<TypeUrl, number>;

export class RolloutTracker {
  private readonly rollouts = new Map<string, Rollout>();
  /** Per mesh, rollouts started and not yet claimed by a reconcile. */
  private readonly unclaimed = new Map<string, Rollout[]>();
  /**
   * Per node, what the stream hooks keep: one record, so a response or an ACK costs one lookup
   * (at 10,000 proxies, three maps keyed by node were a tenth of the EDS push's own work).
   */
  private readonly nodes = new Map<string, NodeState>();
  /** Rollouts changed and ids forgotten since takeChanges(), kept only once shareChanges() is on. */
  private changed: Set<Rollout> | undefined;
  private forgotten: string[] = [];

  constructor(
    private readonly instanceId: string,
    private readonly observer: RolloutObserver = {},
    private readonly servesMesh: (mesh: string) => boolean = () => true,
  ) {}

  /** A write of rollout `id` was committed: its rollout, awaiting the reconcile that will read it. */
  start(id: string, resource: RolloutPart['resource'], operation: RolloutPart['operation']): void {
    if (this.rollouts.has(id)) return;
    const rollout: Rollout = { id, resource, operation, started: Date.now(), ended: undefined, published: false, proxies: new Map(), pending: 0 };
    this.rollouts.set(rollout.id, rollout);
    this.touch(rollout);
    for (const old of this.rollouts.keys()) {
      if (this.rollouts.size <= HISTORY) break;
      this.forget(old);
    }
    const mesh = meshOf(resource);
    // Nothing this instance serves can be concerned: a rollout with no proxy is over at once.
    if (!mesh || !this.servesMesh(mesh)) {
      rollout.published = true;
      this.end(rollout);
    } else {
      (this.unclaimed.get(mesh) ?? this.unclaimed.set(mesh, []).get(mesh)!).push(rollout);
    }
  }

  /** From now on, keeps what changed for takeChanges() (the instances share their parts). */
  shareChanges(): void {
    this.changed ??= new Set();
  }

  /** The parts changed since the last call, and the ids forgotten. */
  takeChanges(): { changed: RolloutPart[]; forgotten: string[] } {
    const changed = [...(this.changed ?? [])].filter((r) => this.rollouts.has(r.id)).map((r) => this.partOf(r));
    this.changed?.clear();
    const forgotten = this.forgotten;
    this.forgotten = [];
    return { changed, forgotten };
  }

  /** A save of these failed: they are taken again with the next changes. */
  retryChanges(ids: readonly string[], forgotten: readonly string[]): void {
    for (const id of ids) {
      const rollout = this.rollouts.get(id);
      if (rollout) this.touch(rollout);
    }
    this.forgotten.push(...forgotten);
  }

  private touch(rollout: Rollout): void {
    this.changed?.add(rollout);
  }

  /** A reconcile of `mesh` begins reading the store: it carries every rollout started so far. */
  claim(mesh: string): Rollout[] {
    const claimed = this.unclaimed.get(mesh) ?? [];
    this.unclaimed.delete(mesh);
    return claimed;
  }

  /** The reconcile failed and will be retried: its rollouts wait for the retry. */
  unclaim(mesh: string, claimed: Rollout[]): void {
    if (claimed.length > 0) this.unclaimed.set(mesh, [...claimed, ...(this.unclaimed.get(mesh) ?? [])]);
  }

  private node(nodeId: string): NodeState {
    let state = this.nodes.get(nodeId);
    if (!state) this.nodes.set(nodeId, (state = { inFlight: 0, pending: undefined }));
    return state;
  }

  /** A publish of the claimed rollouts reached `nodeId`; `sent`: whether it sent the node anything (else the node is not concerned). */
  published(claimed: readonly Rollout[], nodeId: string, sent: boolean): void {
    if (claimed.length === 0 || !sent) return;
    const node = this.node(nodeId);
    const settled = node.inFlight === 0;
    for (const rollout of claimed) {
      if (rollout.ended !== undefined && rollout.published) continue;
      if (rollout.proxies.get(nodeId)?.state === 'pending') continue;
      rollout.proxies.set(nodeId, settled ? SETTLED.acknowledged : SETTLED.pending);
      this.touch(rollout);
      if (settled) continue;
      rollout.pending++;
      (node.pending ??= []).push(rollout);
    }
  }

  /** The reconcile has published everything: rollouts with nothing pending are over. */
  finished(claimed: readonly Rollout[]): void {
    for (const rollout of claimed) {
      rollout.published = true;
      if (rollout.pending === 0) this.end(rollout);
    }
  }

  onResponse(stream: StreamInfo, typeUrl: TypeUrl): void {
    this.node(stream.identity.nodeId).inFlight |= TYPE_BITS[typeUrl];
  }

  onAck(stream: StreamInfo, typeUrl: TypeUrl): void {
    const node = this.nodes.get(stream.identity.nodeId);
    if (!node) return;
    node.inFlight &= ~TYPE_BITS[typeUrl];
    if (node.inFlight === 0) this.settle(node, stream.identity.nodeId, 'acknowledged');
  }

  onNack(stream: StreamInfo, typeUrl: TypeUrl, message: string): void {
    this.observer.onNack?.(typeUrl);
    const node = this.nodes.get(stream.identity.nodeId);
    if (!node) return;
    node.inFlight &= ~TYPE_BITS[typeUrl];
    this.settle(node, stream.identity.nodeId, 'rejected', `${typeUrl}: ${message}`);
  }

  onStreamClose(stream: StreamInfo): void {
    const node = this.nodes.get(stream.identity.nodeId);
    if (!node) return;
    this.nodes.delete(stream.identity.nodeId);
    this.settle(node, stream.identity.nodeId, 'offline');
  }

  private settle(node: NodeState, nodeId: string, state: ProxyState, error?: string): void {
    const pending = node.pending;
    if (!pending) return;
    node.pending = undefined;
    for (const rollout of pending) {
      rollout.proxies.set(nodeId, error ? { state, error } : SETTLED[state]);
      rollout.pending--;
      this.touch(rollout);
      if (rollout.published && rollout.pending === 0) this.end(rollout);
    }
  }

  private end(rollout: Rollout): void {
    if (rollout.ended !== undefined) return;
    rollout.ended = Date.now();
    this.touch(rollout);
    this.observer.onEnded?.((rollout.ended - rollout.started) / 1000);
  }

  private forget(id: string): void {
    const rollout = this.rollouts.get(id);
    this.rollouts.delete(id);
    if (!rollout) return;
    if (this.changed) this.forgotten.push(id);
    for (const nodeId of rollout.proxies.keys()) {
      const node = this.nodes.get(nodeId);
      const at = node?.pending?.indexOf(rollout) ?? -1;
      if (at >= 0) node!.pending!.splice(at, 1);
    }
  }

  /** This instance's part of rollout `id`. */
  part(id: string): RolloutPart | undefined {
    const rollout = this.rollouts.get(id);
    return rollout && this.partOf(rollout);
  }

  /** This instance's parts, the most recent first, optionally of one mesh. */
  parts(mesh?: string): RolloutPart[] {
    return [...this.rollouts.values()]
      .filter((r) => mesh === undefined || meshOf(r.resource) === mesh)
      .reverse()
      .map((r) => this.partOf(r));
  }

  private partOf(r: Rollout): RolloutPart {
    const dataplanes = [...r.proxies].map(([nodeId, p]) => {
      const dot = nodeId.indexOf('.');
      return { mesh: nodeId.slice(0, dot), name: nodeId.slice(dot + 1), state: p.state, ...(p.error ? { error: p.error } : {}) };
    });
    return {
      id: r.id,
      instance: this.instanceId,
      resource: r.resource,
      operation: r.operation,
      startTime: new Date(r.started).toISOString(),
      // Ended once published with nothing pending; a rollout claimed by no reconcile yet is not.
      endTime: r.ended === undefined ? null : new Date(r.ended).toISOString(),
      dataplanes,
    };
  }
}

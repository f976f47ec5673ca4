import type { Snapshot } from './snapshot.js';

/** Called with each new snapshot of its node; returns how many responses it sent for it. */
export type SnapshotWatcher = (snapshot: Snapshot) => number;

/**
 * Per-node snapshots and the streams watching them. The protocol server reads from here and is told
 * when a node's snapshot changes; it never computes configuration. Setting a snapshot notifies
 * watchers synchronously; they compare versions and send only what changed, and `set` returns how
 * many responses they sent (none: the change did not concern the node's proxy).
 */
export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<SnapshotWatcher>>();

  get(nodeId: string): Snapshot | undefined {
    return this.snapshots.get(nodeId);
  }

  set(nodeId: string, snapshot: Snapshot): number {
    this.snapshots.set(nodeId, snapshot);
    let sent = 0;
    for (const watcher of this.watchers.get(nodeId) ?? []) sent += watcher(snapshot);
    return sent;
  }

  clear(nodeId: string): void {
    this.snapshots.delete(nodeId);
  }

  /** Calls `watcher` on every later `set` for the node; returns the function that stops it. */
  watch(nodeId: string, watcher: SnapshotWatcher): () => void {
    let set = this.watchers.get(nodeId);
    if (!set) this.watchers.set(nodeId, (set = new Set()));
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0) this.watchers.delete(nodeId);
    };
  }

  nodeIds(): string[] {
    return [...this.snapshots.keys()];
  }
}

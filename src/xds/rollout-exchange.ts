import { StoreUnavailableError } from '../core/errors.js';
import type { Cluster, InstanceRecord, RolloutPart } from '../store/cluster.js';
import type { RolloutTracker, RolloutView, ProxyState } from './rollouts.js';

/** How often this instance's changed parts are saved for the others. */
const SAVE_INTERVAL_MS = 200;
/**
 * A live instance that has saved no part of a rollout it should have heard of (it was up when
 * the write was made) is waited for this long, then taken to have nothing concerned: it missed
 * the notification (its change feed was reconnecting) and caught up by a resync, which names no
 * rollout. Notifications take milliseconds, saves SAVE_INTERVAL_MS.
 */
const AWAIT_PART_MS = 10_000;

/** A dataplane in several parts (it moved between instances) counts once, by its most telling state. */
const STATE_RANK: Record<ProxyState, number> = { rejected: 3, pending: 2, acknowledged: 1, offline: 0 };

/**
 * Rollouts across every instance sharing the store: each instance tracks its own proxies
 * (RolloutTracker) and saves its parts through the cluster; a view merges every instance's part.
 * With one instance the view is the tracker's alone.
 */
export class RolloutExchange {
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly tracker: RolloutTracker,
    private readonly cluster: Cluster,
    private readonly onSaveError: (err: unknown) => void = () => {},
  ) {
    if (!cluster.rolloutParts) return;
    tracker.shareChanges();
    this.timer = setInterval(() => void this.save(), SAVE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Saves what changed since the last save (one at a time; a failed save is retried with the next). */
  save(): Promise<void> {
    const parts = this.cluster.rolloutParts;
    if (!parts) return Promise.resolve();
    this.saving = this.saving.then(async () => {
      const { changed, forgotten } = this.tracker.takeChanges();
      if (changed.length === 0 && forgotten.length === 0) return;
      try {
        await parts.save(changed, forgotten);
      } catch (err) {
        this.tracker.retryChanges(changed.map((p) => p.id), forgotten);
        this.onSaveError(err);
      }
    });
    return this.saving;
  }

  async get(id: string): Promise<RolloutView | undefined> {
    const local = this.tracker.part(id);
    const others = await this.othersOf([id]);
    const parts = [...(local ? [local] : []), ...others];
    if (parts.length === 0) return undefined;
    return mergeParts(parts, await this.liveInstances(), this.cluster.instanceId, Date.now());
  }

  /** The rollouts this instance has heard of, the most recent first, optionally of one mesh. */
  async list(mesh?: string): Promise<RolloutView[]> {
    const locals = this.tracker.parts(mesh);
    const others = await this.othersOf(locals.map((p) => p.id));
    const byId = new Map<string, RolloutPart[]>();
    for (const part of others) (byId.get(part.id) ?? byId.set(part.id, []).get(part.id)!).push(part);
    const live = await this.liveInstances();
    const now = Date.now();
    return locals.map((local) => mergeParts([local, ...(byId.get(local.id) ?? [])], live, this.cluster.instanceId, now));
  }

  /** The other instances' parts; without them no answer would be true, so the store's outage is the API's 503. */
  private async othersOf(ids: string[]): Promise<RolloutPart[]> {
    if (!this.cluster.rolloutParts) return [];
    try {
      return await this.cluster.rolloutParts.others(ids);
    } catch (err) {
      throw new StoreUnavailableError(`the other instances' rollout progress cannot be read: ${(err as Error).message}`);
    }
  }

  private async liveInstances(): Promise<InstanceRecord[]> {
    if (!this.cluster.rolloutParts) return [];
    return this.cluster.instances().catch(() => []);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * One rollout as every instance knows it. It has ended when every instance's part has ended, no
 * live instance that should have a part is still awaited, and dead instances' pending proxies are
 * offline (they went with their instance).
 */
export function mergeParts(parts: readonly RolloutPart[], live: readonly InstanceRecord[], self: string, now: number): RolloutView {
  const liveIds = new Set([self, ...live.map((i) => i.id)]);
  const startTime = parts.map((p) => p.startTime).reduce((a, b) => (a < b ? a : b));
  const byDataplane = new Map<string, RolloutView['dataplanes'][number]>();
  let ended = true;
  let endTime = startTime;
  for (const part of parts) {
    const alive = liveIds.has(part.instance);
    if (alive && part.endTime === null) ended = false;
    if (part.endTime && part.endTime > endTime) endTime = part.endTime;
    for (const d of part.dataplanes) {
      const state: ProxyState = !alive && d.state === 'pending' ? 'offline' : d.state;
      const key = `${d.mesh}.${d.name}`;
      const seen = byDataplane.get(key);
      if (seen && STATE_RANK[seen.state] >= STATE_RANK[state]) continue;
      byDataplane.set(key, { mesh: d.mesh, name: d.name, state, instance: part.instance, ...(d.error && state === d.state ? { error: d.error } : {}) });
    }
  }
  const reported = new Set(parts.map((p) => p.instance));
  const started = Date.parse(startTime);
  const awaited = live.some((i) => !reported.has(i.id) && Date.parse(i.startTime) <= started && now - started < AWAIT_PART_MS);
  if (awaited) ended = false;
  const dataplanes = [...byDataplane.values()];
  const count = (state: ProxyState) => dataplanes.filter((d) => d.state === state).length;
  const first = parts[0]!;
  return {
    id: first.id,
    resource: first.resource,
    operation: first.operation,
    startTime,
    endTime: ended ? endTime : null,
    concerned: dataplanes.length,
    acknowledged: count('acknowledged'),
    rejected: count('rejected'),
    pending: count('pending'),
    dataplanes,
  };
}

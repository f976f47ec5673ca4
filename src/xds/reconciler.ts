import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { affects, buildMeshSnapshot, diffMeshSnapshots, type DataplaneEntry, type MeshPolicies, type MeshSnapshot } from '../core/mesh-snapshot.js';
import type { ResourceTypeName, StoredResource } from '../core/model.js';
import { isStoreUnavailable } from '../core/errors.js';
import type { ChangeEvent, ResourceStore } from '../store/store.js';
import { listMeshPolicies, POLICY_TYPES } from '../store/mesh-policies.js';
import type { RolloutTracker } from './rollouts.js';
import type { SnapshotCache } from './cache/snapshot-cache.js';
import { inconsistencies, ResourceEncoder, type Snapshot } from './cache/snapshot.js';
import { generateProxyResources } from './generators/index.js';
import { endpointOnlyServices, patchLoadAssignments } from './endpoint-patch.js';
import { routeSelectionKey } from './generators/routing.js';
import { StreamRefused, type ProxyRegistry } from './server/ads-service.js';
import type { ProxyIdentity } from './server/identity.js';
import type { MtlsBackend } from '../core/resources/mesh.js';
import type { ProxyIdentityMaterial } from './generators/types.js';
import { policySelectionKey } from '../policies/index.js';

/**
 * Where dataplane certificates come from (the SDS module implements it); the reconciler asks before
 * generating a proxy of a mesh with mTLS on, and says when a proxy is gone.
 */
export interface IdentitySource {
  identityFor(nodeId: string, mesh: string, service: string, backend: MtlsBackend): Promise<ProxyIdentityMaterial | undefined>;
  forget(nodeId: string): void;
}

interface ConnectedProxy {
  identity: ProxyIdentity;
  streams: number;
}

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Keeps every connected proxy's snapshot current. Store changes mark their mesh dirty; after a short
 * debounce the mesh snapshot is rebuilt once, diffed against the previous one, and only the proxies
 * the difference can affect (their own Dataplane, or a service they consume) are regenerated and
 * published (the protocol layer then sends only what changed). Status writes (DataplaneInsight)
 * and global resources never trigger recomputation. All work runs one job at a time, in order.
 */
export class Reconciler implements ProxyRegistry {
  private readonly meshes = new Map<string, MeshSnapshot>();
  private readonly proxies = new Map<string, ConnectedProxy>();
  /**
   * Meshes changed since the last reconcile: when their first change arrived (`performance.now()`)
   * and which Dataplanes changed ('all' when they must be listed again).
   */
  private readonly dirty = new Map<string, { since: number; dataplanes: Set<string> | 'all' }>();
  /** Each mesh's Dataplanes as last read, kept so a change re-reads only the Dataplanes it names. */
  private readonly rows = new Map<string, Map<string, StoredResource>>();
  /** Per mesh, its policies as last read, and the policy types changed since (read again at the next rebuild). */
  private readonly policies = new Map<string, MeshPolicies>();
  private closed = false;
  private rollouts: RolloutTracker | undefined;
  /** The rollouts the running refresh publishes. */
  private claimed: ReturnType<RolloutTracker['claim']> = [];
  private readonly stalePolicies = new Map<string, Set<ResourceTypeName>>();
  /** Meshes whose every proxy must be republished (a resync, a failed reconcile). */
  private readonly forced = new Set<string>();
  /**
   * Meshes with a Secret changed since their last reconcile. Secrets reach a proxy's configuration
   * only through its identity (the CA a secret holds or names), so each proxy's identity is asked
   * again and the proxy regenerated only if it is not the one it was last published with: the
   * builtin CA, stored just after mTLS is turned on, would otherwise regenerate the whole mesh twice.
   */
  private readonly secretsChanged = new Set<string>();
  /** The identity each connected proxy was last published with. */
  private readonly publishedIdentity = new Map<string, ProxyIdentityMaterial | undefined>();
  private readonly encoder = new ResourceEncoder();
  private readonly proxyless = new WeakMap<MeshSnapshot, Map<string, Snapshot>>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** Consecutive failed reconciles per mesh, for the retry backoff. */
  private readonly failures = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;

  private identities: IdentitySource | undefined;

  constructor(
    private readonly store: ResourceStore,
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
    private readonly debounceMs = 10,
    /** Called with the milliseconds each proxy's generation and encoding took (`xds_generation`). */
    private readonly onGenerated: (ms: number) => void = () => {},
  ) {
    this.unsubscribe = store.subscribe((event) => this.onChange(event));
  }

  /** Enables mesh mTLS: identities are issued (and renewed) for proxies of meshes with mTLS on. */
  useIdentities(identities: IdentitySource): void {
    this.identities = identities;
  }

  /** A proxy's certificate is due for renewal: republish it (it gets a new one over its open stream). */
  renew(nodeId: string): void {
    const proxy = this.proxies.get(nodeId);
    if (!proxy) return;
    void this.enqueue(async () => {
      const mesh = this.meshes.get(proxy.identity.mesh);
      if (mesh) await this.publish(proxy.identity, mesh, performance.now());
    }).catch((err: unknown) => this.logger.error({ err, node: nodeId }, 'certificate renewal failed'));
  }

  private pendingJobs = 0;

  /** Runs `job` after every job queued before it; a failing job is logged and does not stop later ones. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.pendingJobs++;
    const result = this.queue.then(job);
    this.queue = result.then(
      () => void this.pendingJobs--,
      () => void this.pendingJobs--,
    );
    return result;
  }

  /** Proxies with at least one open stream to this control plane (its heartbeat reports it). */
  connectedCount(): number {
    return this.proxies.size;
  }

  /** Whether changes are waiting or being published. */
  busy(): boolean {
    return this.pendingJobs > 0 || this.timer !== undefined;
  }

  async connect(identity: ProxyIdentity): Promise<void> {
    // The mesh snapshot, when it has the Dataplane, answers without a store read (one per stream
    // was about 7 % of the initial sync's CPU at 10,000); one it lacks may be newer than it.
    const known = this.meshes.get(identity.mesh)?.dataplanes.has(identity.name) || (await this.store.get({ type: 'Dataplane', mesh: identity.mesh, name: identity.name })) !== undefined;
    if (!known) {
      throw new StreamRefused(status.NOT_FOUND, `Dataplane "${identity.name}" not found in mesh "${identity.mesh}": create it before starting the proxy`);
    }
    const connectedAt = performance.now();
    const proxy = this.proxies.get(identity.nodeId);
    if (proxy) proxy.streams++;
    else this.proxies.set(identity.nodeId, { identity, streams: 1 });
    try {
      await this.enqueue(async () => {
        const mesh = this.meshes.get(identity.mesh) ?? (await this.rebuildMesh(identity.mesh));
        if (mesh) await this.publish(identity, mesh, connectedAt);
      });
    } catch (err) {
      this.disconnect(identity); // the stream is refused: it must not count as connected
      throw err;
    }
  }

  disconnect(identity: ProxyIdentity): void {
    const known = this.proxies.get(identity.nodeId);
    if (!known) return;
    if (--known.streams > 0) return;
    this.proxies.delete(identity.nodeId);
    this.cache.clear(identity.nodeId);
    this.publishedIdentity.delete(identity.nodeId);
    this.identities?.forget(identity.nodeId);
  }

  private onChange(event: ChangeEvent): void {
    if (event.action === 'resync') {
      // The store may have committed changes it could not announce: every mesh served is read again whole.
      for (const mesh of new Set([...this.meshes.keys(), ...[...this.proxies.values()].map((p) => p.identity.mesh)])) {
        this.markDirty(mesh, performance.now(), 'all');
        this.forced.add(mesh);
      }
      this.schedule(this.debounceMs);
      return;
    }
    if (event.type === 'DataplaneInsight' || event.type === 'GlobalSecret') return;
    const mesh = event.type === 'Mesh' ? event.name : event.mesh;
    if (!this.meshes.has(mesh) && ![...this.proxies.values()].some((p) => p.identity.mesh === mesh)) return;
    if (POLICY_TYPES.has(event.type)) (this.stalePolicies.get(mesh) ?? this.stalePolicies.set(mesh, new Set()).get(mesh)!).add(event.type);
    this.markDirty(mesh, performance.now(), event.type === 'Mesh' ? 'all' : event.type === 'Dataplane' ? new Set([event.name]) : new Set());
    // A secret may be (or name) the mesh CA: every proxy re-checks its identity.
    if (event.type === 'Secret' && !event.name.startsWith('dataplane-token-')) this.secretsChanged.add(mesh);
    this.schedule(this.debounceMs);
  }

  private markDirty(mesh: string, since: number, dataplanes: Set<string> | 'all'): void {
    const dirty = this.dirty.get(mesh);
    if (!dirty) this.dirty.set(mesh, { since, dataplanes: dataplanes === 'all' ? 'all' : new Set(dataplanes) });
    else {
      dirty.since = Math.min(dirty.since, since);
      if (dataplanes === 'all') dirty.dataplanes = 'all';
      else if (dirty.dataplanes !== 'all') for (const name of dataplanes) dirty.dataplanes.add(name);
    }
  }

  /**
   * Runs the dirty meshes after `delayMs`, or sooner if a run is already due sooner. A change that
   * arrives while a retry waits out its backoff brings the retry forward: the write that caused
   * it just succeeded, so the store is likely back.
   */
  private schedule(delayMs: number): void {
    // Closed: a reconcile still running that fails (its store closing under it) schedules nothing,
    // or its retries would keep the process from exiting.
    if (this.closed) return;
    const due = performance.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const meshes = [...this.dirty];
      this.dirty.clear();
      for (const [mesh, { since, dataplanes }] of meshes) {
        void this.enqueue(() => this.refreshMesh(mesh, since, dataplanes)).then(
          () => this.failures.delete(mesh),
          (err: unknown) => this.retry(mesh, since, dataplanes, err),
        );
      }
    }, delayMs);
  }

  /**
   * A reconcile that failed (the store is down, a read timed out) is done again, with backoff,
   * until it succeeds: what it was to publish is put back, so no stored change is ever lost
   * between the store and the proxies. Some proxies of the mesh may have been published before the
   * failure, against a snapshot that then became the "previous" one, so the retry republishes
   * every proxy of the mesh (identical snapshots are not sent again).
   */
  private retry(mesh: string, since: number, dataplanes: Set<string> | 'all', err: unknown): void {
    const attempt = (this.failures.get(mesh) ?? 0) + 1;
    this.failures.set(mesh, attempt);
    const delayMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt - 1, 10));
    this.logger.warn({ err: (err as Error).message, mesh, attempt, retryInMs: delayMs }, 'reconcile failed; retrying');
    this.markDirty(mesh, since, dataplanes);
    this.forced.add(mesh);
    this.schedule(delayMs);
  }

  /** Rebuilds a mesh and republishes only the proxies whose configuration the change can touch. */
  /** Rollout tracking (src/xds/rollouts.ts): which proxies a write reached. */
  useRollouts(tracker: RolloutTracker): void {
    this.rollouts = tracker;
  }

  /** Whether this instance serves proxies of the mesh (a write elsewhere concerns none of its proxies). */
  servesMesh(mesh: string): boolean {
    return this.meshes.has(mesh) || [...this.proxies.values()].some((p) => p.identity.mesh === mesh);
  }

  /** Publishes a proxy's snapshot, and tells the rollouts being published whether it sent the proxy anything. */
  private setSnapshot(nodeId: string, snapshot: Snapshot): void {
    const sent = this.cache.set(nodeId, snapshot);
    this.rollouts?.published(this.claimed, nodeId, sent > 0);
  }

  private async refreshMesh(meshName: string, changedAt: number, dataplanes: Set<string> | 'all'): Promise<void> {
    // Every write committed before this point is read below: its rollout is this refresh's.
    const claimed = this.rollouts?.claim(meshName) ?? [];
    this.claimed = claimed;
    try {
      await this.refreshMeshClaimed(meshName, changedAt, dataplanes);
    } catch (err) {
      this.rollouts?.unclaim(meshName, claimed);
      throw err;
    } finally {
      this.claimed = [];
    }
    this.rollouts?.finished(claimed);
  }

  private async refreshMeshClaimed(meshName: string, changedAt: number, dataplanes: Set<string> | 'all'): Promise<void> {
    const previous = this.meshes.get(meshName);
    const mesh = await this.rebuildMesh(meshName, dataplanes);
    if (!mesh) return;
    const forced = this.forced.delete(meshName);
    const recheckIdentities = this.secretsChanged.delete(meshName);
    const delta = previous && !forced ? diffMeshSnapshots(previous, mesh) : undefined;
    // Only endpoints moved (the common case: instances come and go): proxies take new
    // ClusterLoadAssignments without being regenerated.
    const moved = previous && delta && !delta.mesh && delta.inboundServices.size === 0 ? endpointOnlyServices(previous, mesh, delta) : undefined;
    const endpointsOnly = moved && delta && moved.size === delta.services.size ? moved : undefined;
    // With secrets changed, the proxies the mesh's change does not reach are concerned too: their identity is re-checked.
    // A plain loop: this runs over every connected proxy on every change.
    const concerned: Array<{ identity: ProxyIdentity; entry: DataplaneEntry | undefined; reached: boolean }> = [];
    for (const { identity } of this.proxies.values()) {
      if (identity.mesh !== meshName) continue;
      const entry = mesh.dataplanes.get(identity.name);
      const reached = !delta || !entry || affects(delta, entry, identity.proxyless);
      if (reached || recheckIdentities) concerned.push({ identity, entry, reached });
    }
    if (!endpointsOnly || recheckIdentities) this.askForIdentities(concerned, mesh);
    let published = 0;
    for (const { identity, entry, reached } of concerned) {
      if (this.closed) return;
      if (!reached) {
        // Reached only by the secrets: regenerated if its identity is no longer the one it has.
        const unchanged = entry && (await this.identityOf(identity, entry, mesh).catch(() => null)) === this.publishedIdentity.get(identity.nodeId);
        if (!unchanged) await this.publish(identity, mesh, changedAt);
      } else {
        const patched = endpointsOnly && delta && entry && !identity.proxyless && !delta.dataplanes.has(identity.name) && this.patchEndpoints(identity, mesh, endpointsOnly, changedAt);
        if (!patched) await this.publish(identity, mesh, changedAt);
      }
      // Let the responses already queued go out (and ACKs come in) while the rest are generated.
      if (++published % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Asks for the certificates of the proxies about to be published, in publishing order, without
   * waiting: they are signed on worker threads while this thread generates configuration (turning
   * mTLS on for a mesh issues one per proxy). `publish` awaits each and reports what failed.
   */
  private askForIdentities(proxies: readonly { identity: ProxyIdentity; entry: DataplaneEntry | undefined }[], mesh: MeshSnapshot): void {
    for (const { identity, entry } of proxies) {
      if (entry) this.identityOf(identity, entry, mesh).catch(() => {});
    }
  }

  /** The proxy's certificate when its mesh has mTLS on (X509-SVID allows one SPIFFE ID: its first inbound's service's). */
  private identityOf(identity: ProxyIdentity, entry: DataplaneEntry, mesh: MeshSnapshot): Promise<ProxyIdentityMaterial | undefined> {
    if (!mesh.mtls || !this.identities) return Promise.resolve(undefined);
    return this.identities.identityFor(identity.nodeId, mesh.mesh, entry.dataplane.inbound[0]?.service ?? '', mesh.mtls);
  }

  private async rebuildMesh(meshName: string, changed: Set<string> | 'all' = 'all'): Promise<MeshSnapshot | undefined> {
    const mesh = await this.store.get({ type: 'Mesh', mesh: '', name: meshName });
    if (!mesh) {
      this.meshes.delete(meshName);
      this.rows.delete(meshName);
      this.policies.delete(meshName);
      return undefined;
    }
    let rows = this.rows.get(meshName);
    if (!rows || changed === 'all') {
      // Listing every Dataplane is the one cost of a rebuild that grows with the mesh; after the
      // first time, only the Dataplanes a change names are read again.
      rows = new Map((await this.store.list('Dataplane', { mesh: meshName })).items.map((r) => [r.name, r]));
      this.rows.set(meshName, rows);
    } else {
      for (const name of changed) {
        const row = await this.store.get({ type: 'Dataplane', mesh: meshName, name });
        if (row) rows.set(name, row);
        else rows.delete(name);
      }
    }
    const dataplanes = { items: [...rows.values()] };
    let policies = this.policies.get(meshName);
    const stale = this.stalePolicies.get(meshName);
    if (!policies || changed === 'all' || stale) {
      // Taken before the read, so a change during it marks its type again; a failed read puts them back.
      this.stalePolicies.delete(meshName);
      try {
        policies = await listMeshPolicies(this.store, meshName, changed === 'all' ? undefined : policies, stale ?? 'all');
      } catch (err) {
        const now = this.stalePolicies.get(meshName) ?? new Set();
        for (const type of stale ?? POLICY_TYPES) now.add(type);
        this.stalePolicies.set(meshName, now);
        if (!policies || changed === 'all') this.policies.delete(meshName);
        throw err;
      }
      this.policies.set(meshName, policies);
    }
    const snapshot = buildMeshSnapshot(mesh, dataplanes.items, this.meshes.get(meshName), policies);
    this.meshes.set(meshName, snapshot);
    return snapshot;
  }

  /** Swaps a proxy's ClusterLoadAssignments of `services`; false when it must be regenerated instead. */
  private patchEndpoints(identity: ProxyIdentity, mesh: MeshSnapshot, services: ReadonlySet<string>, changedAt: number): boolean {
    const current = this.cache.get(identity.nodeId);
    if (!current) return false;
    const started = performance.now();
    const patched = patchLoadAssignments(current, mesh, services, this.encoder);
    if (!patched) return false;
    this.onGenerated(performance.now() - started);
    if (patched !== current) this.setSnapshot(identity.nodeId, { ...patched, changedAt });
    return true;
  }

  private async publish(identity: ProxyIdentity, mesh: MeshSnapshot, changedAt: number): Promise<void> {
    const entry = mesh.dataplanes.get(identity.name);
    if (!entry) {
      // The Dataplane was deleted while its proxy is connected: it keeps its last configuration.
      this.logger.warn({ node: identity.nodeId }, 'Dataplane of a connected proxy no longer exists; its configuration is frozen');
      return;
    }
    try {
      const material = await this.identityOf(identity, entry, mesh);
      const started = performance.now();
      const snapshot = identity.proxyless
        ? material
          ? // Its own secrets make it a snapshot of its own; the other resources are still shared objects.
            { ...this.encoder.snapshot(generateProxyResources({ nodeId: identity.nodeId, dataplane: entry, proxyless: true, identity: material }, mesh)), changedAt }
          : this.proxylessSnapshot(identity, mesh)
        : { ...this.encoder.snapshot(generateProxyResources({ nodeId: identity.nodeId, dataplane: entry, proxyless: false, identity: material, ...(identity.adminPort ? { adminPort: identity.adminPort } : {}) }, mesh)), changedAt };
      this.onGenerated(performance.now() - started);
      const problems = inconsistencies(snapshot);
      if (problems.length > 0) this.logger.warn({ node: identity.nodeId, problems }, 'inconsistent snapshot');
      this.setSnapshot(identity.nodeId, snapshot);
      this.publishedIdentity.set(identity.nodeId, material);
    } catch (err) {
      // A store outage fails the whole reconcile, which is retried; anything else is this proxy's own.
      if (isStoreUnavailable(err)) throw err;
      // One proxy's bad configuration never blocks the others.
      this.logger.error({ err, node: identity.nodeId }, 'generating configuration failed; the proxy keeps its last configuration');
    }
  }

  /**
   * Proxyless dataplanes of a mesh that select the same TrafficRoutes and have the same inbounds
   * (their server Listeners) are served the same resources (each subscribes by name), so they
   * share one snapshot object.
   */
  private proxylessSnapshot(identity: ProxyIdentity, mesh: MeshSnapshot): Snapshot {
    const entry = mesh.dataplanes.get(identity.name)!;
    const inbounds = JSON.stringify(entry.dataplane.inbound.map((i) => [i.address, i.port, i.tags]));
    const key = `${routeSelectionKey(mesh, entry.dataplane.inbound.map((i) => i.tags))}\u0000${inbounds}\u0000${policySelectionKey(mesh, { dataplane: entry })}`;
    let byKey = this.proxyless.get(mesh);
    if (!byKey) this.proxyless.set(mesh, (byKey = new Map()));
    let snapshot = byKey.get(key);
    if (!snapshot) {
      snapshot = this.encoder.snapshot(generateProxyResources({ nodeId: identity.nodeId, dataplane: entry, proxyless: true }, mesh));
      byKey.set(key, snapshot);
    }
    return snapshot;
  }

  /** How a connected proxy asked to be served, for previews of its configuration. */
  connectedAs(nodeId: string): { proxyless: boolean; adminPort?: number } | undefined {
    const identity = this.proxies.get(nodeId)?.identity;
    return identity && { proxyless: identity.proxyless, ...(identity.adminPort ? { adminPort: identity.adminPort } : {}) };
  }

  /** Resolves when every change seen so far has been published (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.timer || this.dirty.size > 0) await new Promise((r) => setTimeout(r, this.debounceMs));
    await this.enqueue(async () => {});
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

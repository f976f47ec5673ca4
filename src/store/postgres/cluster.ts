import pg from 'pg';
import type { Cluster, InstanceRecord, InstanceSelf } from '../cluster.js';
import { clientConfig } from './connection.js';
import type { PostgresOptions } from './postgres-store.js';

/** The advisory lock whose holder is the leader (any constant; 5681 is the API port). */
export const LEADER_LOCK_KEY = 5681002;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const LIVE_CACHE_MS = 250;

export interface PostgresClusterTiming {
  /** An instance without a heartbeat for this long is dead; heartbeats go out twice as often. */
  heartbeatMs: number;
  /** How often a follower tries to take the leader lock (and the leader checks it still holds it). */
  electionMs: number;
}

interface InstanceRow {
  id: string;
  address: string;
  version: string;
  start_time: Date;
  heartbeat_time: Date;
  leader: boolean;
  proxies: number;
}

/**
 * Leader election and heartbeats over one dedicated PostgreSQL session.
 *
 * The leader is whoever holds the session-level advisory lock LEADER_LOCK_KEY. PostgreSQL itself
 * releases it when the holder's session ends, whether the process exited, was killed (-9) or lost
 * its network (TCP keepalive), so there is no lease to renew, no clock to trust and no window with
 * two leaders while the lock holder's session lives. A leader that cannot reach its session any
 * more steps down at once, before reconnecting. Heartbeats (one row per instance, upserted with
 * the database's clock) cost O(instances) per interval and tell who is alive.
 */
export class PostgresCluster implements Cluster {
  readonly instanceId: string;
  private client: pg.Client | undefined;
  private leader = false;
  private closed = false;
  private backoffMs = MIN_BACKOFF_MS;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private electionTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private live: { at: number; ids: Promise<Set<string>> } | undefined;

  constructor(
    private readonly options: PostgresOptions,
    private readonly self: InstanceSelf,
    private readonly timing: PostgresClusterTiming,
    private readonly onConnectionLost: (err: Error) => void = () => {},
  ) {
    this.instanceId = self.id;
    this.reads = new pg.Pool({ ...clientConfig(options, undefined, `${self.id} instance-list`), max: 1, idleTimeoutMillis: 10_000 });
    this.reads.on('error', () => {}); // an idle connection lost: the next read opens another
  }

  async start(): Promise<void> {
    await this.connect();
  }

  isLeader(): boolean {
    return this.leader;
  }

  onLeadership(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    for (const listener of this.listeners) listener(leader);
    if (this.client) void this.heartbeat(this.client);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...clientConfig(this.options, undefined, `${this.instanceId} leader-election`), keepAlive: true });
    let failed = false;
    const lose = (err: Error) => {
      if (failed) return;
      failed = true;
      this.onLost(client, err);
    };
    client.on('error', lose);
    client.on('end', () => lose(new Error('connection ended')));
    try {
      await client.connect();
      await this.heartbeat(client);
    } catch (err) {
      lose(err as Error);
      return;
    }
    if (failed || this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.backoffMs = MIN_BACKOFF_MS;
    await this.elect(client).catch((err: Error) => lose(err));
    this.electionTimer = setInterval(() => void this.elect(client).catch((err: Error) => lose(err)), this.timing.electionMs);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(client).catch((err: Error) => lose(err)), Math.max(50, this.timing.heartbeatMs / 2));
    this.electionTimer.unref();
    this.heartbeatTimer.unref();
  }

  private async elect(client: pg.Client): Promise<void> {
    if (this.leader) {
      await client.query('SELECT 1'); // the session, and with it the lock, is still there
      return;
    }
    const result = await client.query<{ won: boolean }>('SELECT pg_try_advisory_lock($1) AS won', [LEADER_LOCK_KEY]);
    if (result.rows[0]?.won) this.setLeader(true);
  }

  private async heartbeat(client: pg.Client): Promise<void> {
    const { id, address, version, startTime } = this.self;
    await client.query(
      `INSERT INTO control_plane_instances (id, address, version, start_time, heartbeat_time, leader, proxies)
       VALUES ($1, $2, $3, $4, now(), $5, $6)
       ON CONFLICT (id) DO UPDATE SET address = $2, version = $3, heartbeat_time = now(), leader = $5, proxies = $6`,
      [id, address, version, startTime, this.leader, this.self.proxies()],
    );
    // The leader forgets instances dead for a long time (their insights already read as offline).
    if (this.leader) await client.query(`DELETE FROM control_plane_instances WHERE heartbeat_time < now() - make_interval(secs => $1)`, [(this.timing.heartbeatMs * 100) / 1000]);
  }

  private onLost(client: pg.Client, err: Error): void {
    if (this.client === client) this.client = undefined;
    clearInterval(this.electionTimer);
    clearInterval(this.heartbeatTimer);
    client.end().catch(() => {});
    // Without its session this instance cannot know it still holds the lock: it steps down now.
    this.setLeader(false);
    if (this.closed) return;
    this.onConnectionLost(err);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  /**
   * Reads (the instance list) go through a pool of one connection, opened on demand and closed
   * when idle, so they never queue behind the session's work and a burst of API requests never
   * opens more than one.
   */
  private readonly reads: pg.Pool;

  private async query<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
    return (await this.reads.query<T>(sql, params)).rows;
  }

  async instances(): Promise<InstanceRecord[]> {
    const rows = await this.query<InstanceRow>(
      `SELECT * FROM control_plane_instances WHERE heartbeat_time > now() - make_interval(secs => $1) ORDER BY leader DESC, start_time, id`,
      // Dead after a heartbeat period less the cache of liveInstanceIds, so a killed instance's
      // proxies read as offline within one period; live ones beat twice as often, so never miss it.
      [Math.max(this.timing.heartbeatMs / 2 + 100, this.timing.heartbeatMs - LIVE_CACHE_MS) / 1000],
    );
    return rows.map((r) => ({
      id: r.id,
      address: r.address,
      version: r.version,
      startTime: r.start_time.toISOString(),
      heartbeatTime: r.heartbeat_time.toISOString(),
      leader: r.leader,
      proxies: r.proxies,
    }));
  }

  liveInstanceIds(): Promise<Set<string>> {
    const now = Date.now();
    if (!this.live || now - this.live.at > LIVE_CACHE_MS) {
      const ids = this.instances().then(
        (list) => new Set([this.instanceId, ...list.map((i) => i.id)]),
        () => new Set([this.instanceId]), // the database is away: only what we know for sure
      );
      this.live = { at: now, ids };
    }
    return this.live.ids;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reads.end().catch(() => {});
    clearTimeout(this.retryTimer);
    clearInterval(this.electionTimer);
    clearInterval(this.heartbeatTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      // Leave at once rather than after a heartbeat period: the lock and the row go now.
      await client.query('DELETE FROM control_plane_instances WHERE id = $1', [this.instanceId]).catch(() => {});
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => {});
      await client.end().catch(() => {});
    }
    this.setLeader(false);
  }
}

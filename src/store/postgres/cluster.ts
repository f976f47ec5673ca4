import pg from 'pg';
import type { Cluster, InstanceRecord, InstanceSelf, RolloutPartStore } from '../cluster.js';
import { clientConfig } from './connection.js';
import type { PostgresOptions } from './postgres-store.js';
import { PostgresRolloutParts } from './rollout-parts.js';
import { ReconnectingSession } from './session.js';

/** The advisory lock whose holder is the leader (any constant; 5681 is the API port). */
export const LEADER_LOCK_KEY = 5681002;
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
  readonly rolloutParts: RolloutPartStore;
  private leader = false;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private electionTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private live: { at: number; ids: Promise<Set<string>> } | undefined;
  private readonly session: ReconnectingSession;

  constructor(
    options: PostgresOptions,
    private readonly self: InstanceSelf,
    private readonly timing: PostgresClusterTiming,
    onConnectionLost: (err: Error) => void = () => {},
  ) {
    this.instanceId = self.id;
    // Bounded like the store's pool: a half-open connection must not hold API requests (the instance list, rollout views) for long.
    this.reads = new pg.Pool({ ...clientConfig(options, undefined, `${self.id} instance-list`), max: 1, idleTimeoutMillis: 10_000, statement_timeout: 10_000, query_timeout: 11_000 });
    this.reads.on('error', () => {}); // an idle connection lost: the next read opens another
    this.rolloutParts = new PostgresRolloutParts(this.reads, self.id);
    this.session = new ReconnectingSession(clientConfig(options, undefined, `${self.id} leader-election`), {
      setUp: (client) => this.heartbeat(client),
      up: (client) => {
        // The first election is start()'s; after a reconnection the next tick is.
        const lose = (err: Error) => this.session.lost(client, err);
        this.electionTimer = setInterval(() => void this.elect(client).catch(lose), this.timing.electionMs);
        this.heartbeatTimer = setInterval(() => void this.heartbeat(client).catch(lose), Math.max(50, this.timing.heartbeatMs / 2));
        this.electionTimer.unref();
        this.heartbeatTimer.unref();
      },
      down: (err) => {
        clearInterval(this.electionTimer);
        clearInterval(this.heartbeatTimer);
        // Without its session this instance cannot know it still holds the lock: it steps down now.
        this.setLeader(false);
        onConnectionLost(err);
      },
    });
  }

  /** Resolves after the first election attempt (or a failed connection, retried in the background). */
  async start(): Promise<void> {
    await this.session.start();
    const client = this.session.client;
    if (client) await this.elect(client).catch((err: Error) => this.session.lost(client, err));
  }

  isLeader(): boolean {
    return this.leader;
  }

  async announce(): Promise<void> {
    const client = this.session.client;
    if (client) await this.heartbeat(client).catch((err: Error) => this.session.lost(client, err));
  }

  onLeadership(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    for (const listener of this.listeners) listener(leader);
    const client = this.session.client;
    if (client) void this.heartbeat(client).catch(() => {});
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
    // The leader forgets instances dead for a long time (their insights already read as offline),
    // and after an hour the rollout parts of instances it forgot.
    if (this.leader) {
      await client.query(`DELETE FROM control_plane_instances WHERE heartbeat_time < now() - make_interval(secs => $1)`, [(this.timing.heartbeatMs * 100) / 1000]);
      await client.query(`DELETE FROM rollout_parts WHERE updated_at < now() - interval '1 hour' AND instance NOT IN (SELECT id FROM control_plane_instances)`);
    }
  }

  /**
   * Reads (the instance list) and the rollout parts go through a pool of one connection, opened on
   * demand and closed when idle, so they never queue behind the session's work and a burst of API
   * requests never opens more than one.
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
    clearInterval(this.electionTimer);
    clearInterval(this.heartbeatTimer);
    await this.reads.end().catch(() => {});
    // Leave at once rather than after a heartbeat period: the lock and the row go now.
    await this.session.close(async (client) => {
      await client.query('DELETE FROM control_plane_instances WHERE id = $1', [this.instanceId]);
      await client.query('SELECT pg_advisory_unlock_all()');
    });
    this.setLeader(false);
  }

}

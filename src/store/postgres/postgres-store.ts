import pg from 'pg';
import { AlreadyExistsError, ConflictError, NotFoundError, StoreUnavailableError } from '../../core/errors.js';
import type { Resource, ResourceKey, ResourceTypeName, StoredResource } from '../../core/model.js';
import { ChangeNotifier, changeOf, meshMissingError, pageInMemory } from '../common.js';
import { storeMessages, type ChangeListener, type ListOptions, type ListResult, type ResourceStore, type WriteOp, type WriteOptions } from '../store.js';
import { LATEST_POSTGRES_SCHEMA, schemaVersion } from './migrations.js';
import { PostgresChangeFeed, type ChangeFeedHealth } from './change-feed.js';
import { clientConfig } from './connection.js';

export interface PostgresOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  dbName: string;
  /** Seconds to wait for a connection. */
  connectionTimeout: number;
  maxOpenConnections: number;
  /** Schema to use instead of `public` (tests isolate themselves this way). */
  schema?: string;
}

interface Row {
  type: ResourceTypeName;
  mesh: string;
  name: string;
  version: number;
  spec: string;
  creation_time: Date;
  modification_time: Date;
}

const fromRow = (row: Row): StoredResource => ({
  type: row.type,
  mesh: row.mesh,
  name: row.name,
  version: row.version,
  spec: JSON.parse(row.spec) as Record<string, unknown>,
  creationTime: row.creation_time.toISOString(),
  modificationTime: row.modification_time.toISOString(),
});

export interface PostgresStoreSettings {
  /** This control plane's instance id: turns the change feed on. */
  instanceId?: string;
  onPoolError?: (err: Error) => void;
  /** The change feed lost its connection (it reconnects by itself, then resyncs). */
  onFeedLost?: (err: Error) => void;
}

/** The error a caller sees when PostgreSQL cannot be reached: where, as whom, why; never the password. */
export class PostgresConnectionError extends StoreUnavailableError {
  constructor(options: PostgresOptions, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`cannot connect to PostgreSQL at ${options.host}:${options.port} (database "${options.dbName}", user "${options.user}"): ${reason}`);
    this.name = 'PostgresConnectionError';
  }
}

const STATEMENT_TIMEOUT_MS = 10_000;

export function createPool(options: PostgresOptions, onError: (err: Error) => void, instanceId?: string): pg.Pool {
  const pool = new pg.Pool({
    ...clientConfig(options, instanceId),
    max: options.maxOpenConnections,
    // Bounded waits: during an outage a call fails within these instead of stalling the API and
    // the reconciler behind it (a statement is small; 10 s is far beyond any healthy one).
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 1000,
  });
  // An idle client losing its server emits here; without a handler node would crash the process.
  // The pool drops that client and the next query opens a fresh connection, so we only report it.
  pool.on('error', onError);
  return pool;
}

/**
 * PostgreSQL store over a `pg` pool. A dropped connection costs only the queries in flight on it:
 * the pool discards broken clients and reconnects on the next query, so no restart is needed.
 * Writes are single statements (or one transaction for a mesh delete), durable once they resolve.
 */
export class PostgresStore implements ResourceStore {
  private readonly notifier = new ChangeNotifier();
  /** A connection error happened and no statement has succeeded since. */
  private degraded = false;

  private feed: PostgresChangeFeed | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {}

  /**
   * Connects and checks the schema is migrated; fails with a message that says what to do. With
   * `instanceId`, changes committed by other control planes on the database arrive as change events
   * too (the change feed), and this instance's own writes are told in process only.
   */
  static async open(options: PostgresOptions, settings: PostgresStoreSettings = {}): Promise<PostgresStore> {
    const onPoolError = settings.onPoolError ?? (() => {});
    const pool = createPool(options, onPoolError, settings.instanceId);
    let version: number;
    try {
      version = await schemaVersion(pool);
    } catch (err) {
      await pool.end().catch(() => {});
      throw new PostgresConnectionError(options, err);
    }
    if (version < LATEST_POSTGRES_SCHEMA) {
      await pool.end().catch(() => {});
      throw new Error(
        `PostgreSQL database "${options.dbName}" is at schema version ${version}, this control plane needs ${LATEST_POSTGRES_SCHEMA}: run "skiff-cp migrate up" first`,
      );
    }
    const store = new PostgresStore(pool, options);
    if (settings.instanceId) {
      store.feed = new PostgresChangeFeed(options, settings.instanceId, (event) => store.notifier.emit(event), settings.onFeedLost);
      await store.feed.start();
    }
    return store;
  }

  /** The change feed's state (undefined without one): exported as a metric. */
  feedHealth(): ChangeFeedHealth | undefined {
    return this.feed?.health();
  }

  /**
   * Runs one statement. A read that fails because its pooled connection was dropped (server restart,
   * pg_terminate_backend, network blip) is retried once on a fresh connection; writes are not
   * retried, since the caller cannot tell whether the first attempt committed.
   */
  private async query<T extends pg.QueryResultRow>(sql: string, params: unknown[], retryable = false): Promise<pg.QueryResult<T>> {
    try {
      return this.reachable(await this.pool.query<T>(sql, params));
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      if (retryable) {
        try {
          return this.reachable(await this.pool.query<T>(sql, params));
        } catch (again) {
          if (!isConnectionError(again)) throw again;
          throw this.unreachable(again);
        }
      }
      throw this.unreachable(err);
    }
  }

  /**
   * A write whose connection broke may still have committed, and then no change event was sent
   * for it. So once the database answers again after a connection error, subscribers are told to
   * resync: a lost answer can delay a change reaching proxies, never lose it.
   */
  private reachable<T>(result: T): T {
    if (this.degraded) {
      this.degraded = false;
      this.notifier.emit({ action: 'resync' });
    }
    return result;
  }

  private unreachable(err: unknown): PostgresConnectionError {
    this.degraded = true;
    return new PostgresConnectionError(this.options, err);
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    const result = await this.query<Row>('SELECT * FROM resources WHERE type = $1 AND mesh = $2 AND name = $3', [key.type, key.mesh, key.name], true);
    return result.rows[0] ? fromRow(result.rows[0]) : undefined;
  }

  async list(type: ResourceTypeName, options: ListOptions = {}): Promise<ListResult> {
    const params: unknown[] = [type];
    const where = ['type = $1'];
    if (options.mesh !== undefined) {
      params.push(options.mesh);
      where.push(`mesh = $${params.length}`);
    }
    if (options.nameContains) {
      params.push(options.nameContains);
      where.push(`strpos(name, $${params.length}) > 0`);
    }
    const clause = where.join(' AND ');
    if (options.predicate) {
      const rows = (await this.query<Row>(`SELECT * FROM resources WHERE ${clause}`, params, true)).rows;
      return pageInMemory(rows.map(fromRow), { offset: options.offset, size: options.size, predicate: options.predicate });
    }
    // The count and the page run in parallel on two pooled connections; the page walks the
    // (type, mesh, name) index, so neither reads the spec of rows outside the page.
    const paged = [...params, options.size ?? null, options.offset ?? 0];
    const [count, page] = await Promise.all([
      this.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE ${clause}`, params, true),
      this.query<Row>(`SELECT * FROM resources WHERE ${clause} ORDER BY mesh, name LIMIT $${paged.length - 1} OFFSET $${paged.length}`, paged, true),
    ]);
    const total = Number(count.rows[0]!.n);
    const rows = page.rows;
    return { total, items: rows.map(fromRow) };
  }

  // `tag` sets `skiff.rollout` for the statement's own transaction: the change trigger (migration 3)
  // puts it in the notification, so other instances learn the write's rollout with the write.
  async create(resource: Resource, options: WriteOptions = {}): Promise<StoredResource> {
    const sql = `WITH tag AS (SELECT set_config('skiff.rollout', $5, true))
      INSERT INTO resources (type, mesh, name, version, spec, creation_time, modification_time)
      SELECT $1, $2, $3, 1, $4, now(), now() FROM tag
      WHERE $2 = '' OR EXISTS (SELECT 1 FROM resources WHERE type = 'Mesh' AND mesh = '' AND name = $2)
      ON CONFLICT DO NOTHING RETURNING *`;
    const result = await this.query<Row>(sql, [resource.type, resource.mesh, resource.name, JSON.stringify(resource.spec), options.rollout ?? '']);
    if (!result.rows[0]) {
      if (await this.get(resource)) throw new AlreadyExistsError(storeMessages.exists(resource));
      throw meshMissingError(resource.mesh);
    }
    this.notifier.emit(changeOf('create', resource, options));
    return fromRow(result.rows[0]);
  }

  async update(resource: Resource, expectedVersion: number, options: WriteOptions = {}): Promise<StoredResource> {
    const result = await this.query<Row>(
      `UPDATE resources SET spec = $1, version = version + 1, modification_time = now()
       FROM (SELECT set_config('skiff.rollout', $6, true)) tag
       WHERE type = $2 AND mesh = $3 AND name = $4 AND version = $5 RETURNING resources.*`,
      [JSON.stringify(resource.spec), resource.type, resource.mesh, resource.name, expectedVersion, options.rollout ?? ''],
    );
    if (!result.rows[0]) {
      if (await this.get(resource)) throw new ConflictError(storeMessages.conflict(resource));
      throw new NotFoundError(storeMessages.notFound(resource));
    }
    this.notifier.emit(changeOf('update', resource, options));
    return fromRow(result.rows[0]);
  }

  async writeMany(ops: readonly WriteOp[]): Promise<Array<StoredResource | Error>> {
    // One transaction; a savepoint per write, since a failed statement would abort the rest.
    const results = await this.transaction(async (client) => {
      const out: Array<StoredResource | Error> = [];
      for (const op of ops) {
        const r = op.resource;
        await client.query('SAVEPOINT write_one');
        try {
          const result =
            op.op === 'create'
              ? await client.query<Row>(
                  `INSERT INTO resources (type, mesh, name, version, spec, creation_time, modification_time)
                   SELECT $1, $2, $3, 1, $4, now(), now()
                   WHERE $2 = '' OR EXISTS (SELECT 1 FROM resources WHERE type = 'Mesh' AND mesh = '' AND name = $2)
                   ON CONFLICT DO NOTHING RETURNING *`,
                  [r.type, r.mesh, r.name, JSON.stringify(r.spec)],
                )
              : await client.query<Row>(
                  `UPDATE resources SET spec = $1, version = version + 1, modification_time = now()
                   WHERE type = $2 AND mesh = $3 AND name = $4 AND version = $5 RETURNING *`,
                  [JSON.stringify(r.spec), r.type, r.mesh, r.name, op.expectedVersion],
                );
          if (result.rows[0]) out.push(fromRow(result.rows[0]));
          else {
            const exists = (await client.query('SELECT 1 FROM resources WHERE type = $1 AND mesh = $2 AND name = $3', [r.type, r.mesh, r.name])).rowCount! > 0;
            if (op.op === 'create') out.push(exists ? new AlreadyExistsError(storeMessages.exists(r)) : meshMissingError(r.mesh));
            else out.push(exists ? new ConflictError(storeMessages.conflict(r)) : new NotFoundError(storeMessages.notFound(r)));
          }
          await client.query('RELEASE SAVEPOINT write_one');
        } catch (err) {
          if (isConnectionError(err)) throw err;
          await client.query('ROLLBACK TO SAVEPOINT write_one');
          out.push(err as Error);
        }
      }
      return out;
    });
    results.forEach((r, i) => {
      if (!(r instanceof Error)) this.notifier.emit({ action: ops[i]!.op, type: r.type, mesh: r.mesh, name: r.name });
    });
    return results;
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<void> {
    let removed: Array<{ type: ResourceTypeName; mesh: string; name: string }> = [];
    if (key.type === 'Mesh') {
      removed = await this.transaction(async (client) => {
        await client.query("SELECT set_config('skiff.rollout', $1, true)", [options.rollout ?? '']);
        const hit = await client.query("DELETE FROM resources WHERE type = 'Mesh' AND mesh = '' AND name = $1", [key.name]);
        if (hit.rowCount === 0) throw new NotFoundError(storeMessages.notFound(key));
        await client.query("SELECT set_config('skiff.rollout', '', true)"); // the rollout is the Mesh's, not its contents'
        return (await client.query<{ type: ResourceTypeName; mesh: string; name: string }>(
          'DELETE FROM resources WHERE mesh = $1 RETURNING type, mesh, name',
          [key.name],
        )).rows;
      });
    } else {
      const result = await this.query(
        `DELETE FROM resources USING (SELECT set_config('skiff.rollout', $4, true)) tag WHERE type = $1 AND mesh = $2 AND name = $3`,
        [key.type, key.mesh, key.name, options.rollout ?? ''],
      );
      if (result.rowCount === 0) throw new NotFoundError(storeMessages.notFound(key));
    }
    this.notifier.emit(changeOf('delete', key, options));
    for (const r of removed) this.notifier.emit({ action: 'delete', ...r });
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.unreachable(err);
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return this.reachable(result);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (isConnectionError(err)) throw this.unreachable(err);
      throw err;
    } finally {
      client.release();
    }
  }

  subscribe(listener: ChangeListener): () => void {
    return this.notifier.subscribe(listener);
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1', [], true);
  }

  async close(): Promise<void> {
    await this.feed?.close();
    await this.pool.end();
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE'].includes(code) ||
    code.startsWith('08') || // SQLSTATE class 08: connection exception
    code.startsWith('57P') || // admin_shutdown (pg_terminate_backend, fast shutdown), crash_shutdown, cannot_connect_now (starting up, shutting down)
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable/i.test((err as Error).message ?? '')
  );
}

import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { mkdirPrivate, touchPrivate } from '../private-files.js';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../core/errors.js';
import type { Resource, ResourceKey, ResourceTypeName, StoredResource } from '../../core/model.js';
import { ChangeNotifier, changeOf, meshMissingError, pageInMemory } from '../common.js';
import { nowIso, storeMessages, type ChangeListener, type ListOptions, type ListResult, type ResourceStore, type WriteOp, type WriteOptions } from '../store.js';
import { SQLITE_MIGRATIONS } from './migrations.js';

interface Row {
  type: ResourceTypeName;
  mesh: string;
  name: string;
  version: number;
  spec: string;
  creation_time: string;
  modification_time: string;
}

const fromRow = (row: Row): StoredResource => ({
  type: row.type,
  mesh: row.mesh,
  name: row.name,
  version: row.version,
  spec: JSON.parse(row.spec) as Record<string, unknown>,
  creationTime: row.creation_time,
  modificationTime: row.modification_time,
});

/**
 * The embedded default store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so each
 * call runs to completion on the event loop and every write is its own transaction.
 *
 * Durability: `synchronous = FULL`, so a write is on disk before its promise resolves (and before
 * the API answers 2xx); a killed process or a power cut loses no acknowledged write.
 */
export class SqliteStore implements ResourceStore {
  private readonly db: Database.Database;
  private readonly notifier = new ChangeNotifier();
  private readonly stmt;
  private readonly listStatements = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(path: string) {
    if (path !== ':memory:') {
      mkdirPrivate(dirname(path));
      touchPrivate(path);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.stmt = {
      get: this.db.prepare<[string, string, string], Row>('SELECT * FROM resources WHERE type = ? AND mesh = ? AND name = ?'),
      exists: this.db.prepare<[string, string, string], { one: number }>('SELECT 1 AS one FROM resources WHERE type = ? AND mesh = ? AND name = ?'),
      insert: this.db.prepare(
        'INSERT INTO resources (type, mesh, name, version, spec, creation_time, modification_time) VALUES (?, ?, ?, 1, ?, ?, ?)',
      ),
      update: this.db.prepare<[string, string, string, string, string, number], Row>(
        'UPDATE resources SET spec = ?, version = version + 1, modification_time = ? WHERE type = ? AND mesh = ? AND name = ? AND version = ? RETURNING *',
      ),
      delete: this.db.prepare('DELETE FROM resources WHERE type = ? AND mesh = ? AND name = ?'),
      deleteMeshContents: this.db.prepare<[string], { type: ResourceTypeName; mesh: string; name: string }>(
        'DELETE FROM resources WHERE mesh = ? RETURNING type, mesh, name',
      ),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (const [index, sql] of SQLITE_MIGRATIONS.entries()) {
      const version = index + 1;
      if (version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.pragma(`user_version = ${version}`);
      })();
    }
  }

  /** List queries vary only by which filters are present, so a handful of prepared statements cover them. */
  private prepared<T>(sql: string): Database.Statement<unknown[], T> {
    let stmt = this.listStatements.get(sql);
    if (!stmt) this.listStatements.set(sql, (stmt = this.db.prepare<unknown[], unknown>(sql)));
    return stmt as Database.Statement<unknown[], T>;
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    const row = this.stmt.get.get(key.type, key.mesh, key.name);
    return row ? fromRow(row) : undefined;
  }

  async list(type: ResourceTypeName, options: ListOptions = {}): Promise<ListResult> {
    const where = ['type = ?'];
    const params: Array<string | number> = [type];
    if (options.mesh !== undefined) {
      where.push('mesh = ?');
      params.push(options.mesh);
    }
    if (options.nameContains) {
      // instr, not LIKE: LIKE is case-insensitive in SQLite and treats % and _ as wildcards.
      where.push('instr(name, ?) > 0');
      params.push(options.nameContains);
    }
    const clause = where.join(' AND ');
    if (options.predicate) {
      const rows = this.prepared<Row>(`SELECT * FROM resources WHERE ${clause}`).all(...params);
      return pageInMemory(rows.map(fromRow), { offset: options.offset, size: options.size, predicate: options.predicate });
    }
    const { total } = this.prepared<{ total: number }>(`SELECT count(*) AS total FROM resources WHERE ${clause}`).get(...params)!;
    const rows = this
      .prepared<Row>(`SELECT * FROM resources WHERE ${clause} ORDER BY mesh, name LIMIT ? OFFSET ?`)
      .all(...params, options.size ?? -1, options.offset ?? 0);
    return { total, items: rows.map(fromRow) };
  }

  /** The insert of `create`, to run inside a transaction. */
  private insertRow(resource: Resource): StoredResource {
    const now = nowIso();
    const spec = JSON.stringify(resource.spec);
    if (this.stmt.exists.get(resource.type, resource.mesh, resource.name)) throw new AlreadyExistsError(storeMessages.exists(resource));
    if (resource.mesh !== '' && !this.stmt.exists.get('Mesh', '', resource.mesh)) throw meshMissingError(resource.mesh);
    this.stmt.insert.run(resource.type, resource.mesh, resource.name, spec, now, now);
    return { ...resource, spec: JSON.parse(spec) as Record<string, unknown>, version: 1, creationTime: now, modificationTime: now };
  }

  /** The versioned update of `update` (a single statement, atomic by itself). */
  private updateRow(resource: Resource, expectedVersion: number): StoredResource {
    const row = this.stmt.update.get(JSON.stringify(resource.spec), nowIso(), resource.type, resource.mesh, resource.name, expectedVersion);
    if (!row) {
      if (this.stmt.exists.get(resource.type, resource.mesh, resource.name)) throw new ConflictError(storeMessages.conflict(resource));
      throw new NotFoundError(storeMessages.notFound(resource));
    }
    return fromRow(row);
  }

  async create(resource: Resource, options: WriteOptions = {}): Promise<StoredResource> {
    const stored = this.db.transaction(() => this.insertRow(resource))();
    this.notifier.emit(changeOf('create', resource, options));
    return stored;
  }

  async update(resource: Resource, expectedVersion: number, options: WriteOptions = {}): Promise<StoredResource> {
    const stored = this.updateRow(resource, expectedVersion);
    this.notifier.emit(changeOf('update', resource, options));
    return stored;
  }

  async writeMany(ops: readonly WriteOp[]): Promise<Array<StoredResource | Error>> {
    // One transaction, one fsync: a failed write changes nothing (its statement did not run or
    // matched no row), so the others commit as if written one by one.
    const results = this.db.transaction(() =>
      ops.map((op) => {
        try {
          return op.op === 'create' ? this.insertRow(op.resource) : this.updateRow(op.resource, op.expectedVersion);
        } catch (err) {
          return err as Error;
        }
      }),
    )();
    results.forEach((r, i) => {
      if (!(r instanceof Error)) this.notifier.emit({ action: ops[i]!.op, type: r.type, mesh: r.mesh, name: r.name });
    });
    return results;
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<void> {
    const removed = this.db.transaction(() => {
      if (this.stmt.delete.run(key.type, key.mesh, key.name).changes === 0) throw new NotFoundError(storeMessages.notFound(key));
      return key.type === 'Mesh' ? this.stmt.deleteMeshContents.all(key.name) : [];
    })();
    this.notifier.emit(changeOf('delete', key, options));
    for (const r of removed) this.notifier.emit({ action: 'delete', ...r });
  }

  subscribe(listener: ChangeListener): () => void {
    return this.notifier.subscribe(listener);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

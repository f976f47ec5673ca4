import { createDefaultMeshPolicies } from './default-policies.js';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import type { Config } from '../config/schema.js';
import { isAlreadyExists } from '../core/errors.js';
import { CheckedStore } from './decorators.js';
import { MemoryStore } from './memory/memory-store.js';
import { PostgresStore, type PostgresOptions } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { lockSqliteForControlPlane } from './sqlite/instance-lock.js';
import { mkdirPrivate } from './private-files.js';
import type { ResourceStore } from './store.js';

export function postgresOptions(config: Config): PostgresOptions {
  return { ...config.store.postgres };
}

/** The SQLite file: `store.sqlite.path`, relative to `general.workDir` unless absolute. */
export function sqlitePath(config: Config): string {
  const path = config.store.sqlite.path;
  return isAbsolute(path) ? path : resolve(config.general.workDir, path);
}

export interface OpenedStore {
  store: ResourceStore;
  /** The PostgreSQL backend itself (its change feed's health), when that is the backend. */
  postgres?: PostgresStore;
  /** Releases what the store holds beyond itself (the SQLite single-instance lock). */
  release(): void;
}

/**
 * Opens the configured backend behind the argument-checking, instrumented decorator, for the
 * control plane `instanceId`: on SQLite it takes the file's single-instance lock (a second
 * control plane on the same file is refused), on PostgreSQL it listens to other instances' changes.
 */
export async function openStore(config: Config, logger: Logger, latency?: Histogram<'operation' | 'type'>, instanceId?: string): Promise<OpenedStore> {
  let backend: ResourceStore;
  let release = () => {};
  let postgres: PostgresStore | undefined;
  switch (config.store.type) {
    case 'memory':
      backend = new MemoryStore();
      break;
    case 'sqlite': {
      const path = sqlitePath(config);
      mkdirPrivate(dirname(path));
      release = lockSqliteForControlPlane(path);
      try {
        backend = new SqliteStore(path);
      } catch (err) {
        release();
        throw err;
      }
      break;
    }
    case 'postgres':
      backend = postgres = await PostgresStore.open(postgresOptions(config), {
        instanceId,
        onPoolError: (err) => logger.warn({ err: err.message }, 'PostgreSQL connection lost; the pool will reconnect on the next query'),
        onFeedLost: (err) => logger.warn({ err: err.message }, 'PostgreSQL change feed lost its connection; reconnecting, then resyncing'),
      });
      break;
  }
  return { store: new CheckedStore(backend, latency), postgres, release };
}

/** Creates the `default` Mesh at first start (Kuma's behaviour) unless `defaults.skipMeshCreation`. */
export async function ensureDefaultMesh(store: ResourceStore, config: Config, logger: Logger): Promise<void> {
  if (config.defaults.skipMeshCreation) return;
  if (await store.get({ type: 'Mesh', mesh: '', name: 'default' })) return;
  try {
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    logger.info('created the default Mesh');
    // Only with the Mesh, once: a default policy the user deletes later stays deleted.
    const policies = await createDefaultMeshPolicies(store, { name: 'default', spec: {} });
    if (policies.length > 0) logger.info({ policies }, 'created the default policies of the default Mesh');
  } catch (err) {
    if (!isAlreadyExists(err)) throw err; // another instance won the race
  }
}

import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import type { Config } from '../config/schema.js';
import { isAlreadyExists } from '../core/errors.js';
import { CheckedStore } from './decorators.js';
import { MemoryStore } from './memory/memory-store.js';
import { PostgresStore, type PostgresOptions } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { ResourceStore } from './store.js';

export function postgresOptions(config: Config): PostgresOptions {
  return { ...config.store.postgres };
}

/** The SQLite file: `store.sqlite.path`, relative to `general.workDir` unless absolute. */
export function sqlitePath(config: Config): string {
  const path = config.store.sqlite.path;
  return isAbsolute(path) ? path : resolve(config.general.workDir, path);
}

/** Opens the configured backend behind the argument-checking, instrumented decorator. */
export async function openStore(config: Config, logger: Logger, latency?: Histogram<'operation' | 'type'>): Promise<ResourceStore> {
  let backend: ResourceStore;
  switch (config.store.type) {
    case 'memory':
      backend = new MemoryStore();
      break;
    case 'sqlite':
      backend = new SqliteStore(sqlitePath(config));
      break;
    case 'postgres':
      backend = await PostgresStore.open(postgresOptions(config), (err) =>
        logger.warn({ err: err.message }, 'PostgreSQL connection lost; the pool will reconnect on the next query'),
      );
      break;
  }
  return new CheckedStore(backend, latency);
}

/** Creates the `default` Mesh at first start (Kuma's behaviour) unless `defaults.skipMeshCreation`. */
export async function ensureDefaultMesh(store: ResourceStore, config: Config, logger: Logger): Promise<void> {
  if (config.defaults.skipMeshCreation) return;
  if (await store.get({ type: 'Mesh', mesh: '', name: 'default' })) return;
  try {
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    logger.info('created the default Mesh');
  } catch (err) {
    if (!isAlreadyExists(err)) throw err; // another instance won the race
  }
}

import type pg from 'pg';
import type { PostgresOptions } from './postgres-store.js';

/** Connection settings shared by the pool and the dedicated connections (change feed, leader lock). */
export function clientConfig(options: PostgresOptions, instanceId?: string): pg.ClientConfig {
  const settings = [
    // libpq's PGOPTIONS would be ignored once `options` is set: keep it.
    ...(process.env.PGOPTIONS ? [process.env.PGOPTIONS] : []),
    ...(options.schema ? [`-c search_path=${options.schema}`] : []),
    // Read by the change trigger: a control plane skips the notifications of its own writes.
    ...(instanceId ? [`-c skiff.instance=${instanceId}`] : []),
  ];
  return {
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.dbName,
    connectionTimeoutMillis: options.connectionTimeout * 1000,
    ...(settings.length ? { options: settings.join(' ') } : {}),
  };
}

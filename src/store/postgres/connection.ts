import type pg from 'pg';
import type { PostgresOptions } from './postgres-store.js';

/** Connection settings shared by the pool and the dedicated connections (change feed, leader lock). */
/** `role` names the connection in pg_stat_activity (`skiff-cp <instance> <role>`), for operators and tests. */
export function clientConfig(options: PostgresOptions, instanceId?: string, role?: string): pg.ClientConfig {
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
    application_name: `skiff-cp${instanceId ? ` ${instanceId}` : ''}${role ? ` ${role}` : ''}`,
    ...(settings.length ? { options: settings.join(' ') } : {}),
  };
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateUp } from '../../src/store/postgres/migrations.js';
import type { PostgresOptions } from '../../src/store/postgres/postgres-store.js';

/** Connection settings of the test database that scripts/setup-postgres.sh prepares. */
export function testPostgresOptions(): PostgresOptions {
  const env = process.env;
  return {
    host: env.SKIFF_TEST_PG_HOST ?? '127.0.0.1',
    port: Number(env.SKIFF_TEST_PG_PORT ?? 5432),
    user: env.SKIFF_TEST_PG_USER ?? 'skiff',
    password: env.SKIFF_TEST_PG_PASSWORD ?? 'skiff',
    dbName: env.SKIFF_TEST_PG_DB ?? 'skiff_test',
    connectionTimeout: 5,
    maxOpenConnections: 10,
  };
}

let availability: Promise<string | undefined> | undefined;

/**
 * Undefined when the test database answers, otherwise why not. In CI (CI=true) an unreachable
 * server is a failure, never a skip: the Postgres tests must really run there.
 */
export function postgresUnavailable(): Promise<string | undefined> {
  availability ??= (async () => {
    const client = new pg.Client({ ...toClientConfig(testPostgresOptions()), connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (err) {
      const reason = `PostgreSQL test database not reachable (${(err as Error).message}); run scripts/setup-postgres.sh`;
      if (process.env.CI === 'true') throw new Error(`${reason}. CI must run the Postgres tests.`);
      process.stderr.write(`\n!!!!! SKIPPING POSTGRES TESTS: ${reason} !!!!!\n\n`);
      return reason;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return availability;
}

function toClientConfig(o: PostgresOptions): pg.ClientConfig {
  return { host: o.host, port: o.port, user: o.user, password: o.password, database: o.dbName };
}

/** A fresh, migrated schema of its own, so test files running in parallel never see each other's rows. */
export async function freshPostgresSchema(): Promise<{ options: PostgresOptions; drop: () => Promise<void> }> {
  const base = testPostgresOptions();
  const schema = `skiff_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(toClientConfig(base));
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const options = { ...base, schema };
  const pool = new pg.Pool({ ...toClientConfig(base), options: `-c search_path=${schema}`, max: 1 });
  await migrateUp(pool);
  await pool.end();
  return {
    options,
    drop: async () => {
      const client = new pg.Client(toClientConfig(base));
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

/**
 * The `KUMA_STORE_POSTGRES_*` environment that points a control plane at `options`, with
 * libpq's PGOPTIONS selecting its schema when it has one.
 */
export function controlPlanePostgresEnv(options: PostgresOptions): Record<string, string> {
  return {
    KUMA_STORE_TYPE: 'postgres',
    KUMA_STORE_POSTGRES_HOST: options.host,
    KUMA_STORE_POSTGRES_PORT: String(options.port),
    KUMA_STORE_POSTGRES_USER: options.user,
    KUMA_STORE_POSTGRES_PASSWORD: options.password,
    KUMA_STORE_POSTGRES_DB_NAME: options.dbName,
    ...(options.schema ? { PGOPTIONS: `-c search_path=${options.schema}` } : {}),
  };
}

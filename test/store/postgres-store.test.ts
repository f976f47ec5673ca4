import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { PostgresConnectionError, PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { freshPostgresSchema, postgresUnavailable, testPostgresOptions } from '../helpers/postgres.js';
import { storeConformance } from './conformance.js';

const skip = await postgresUnavailable();

storeConformance(
  'postgres',
  async () => {
    const { options, drop } = await freshPostgresSchema();
    const store = await PostgresStore.open(options);
    return { store, cleanup: async () => { await store.close(); await drop(); } };
  },
  skip,
);

describe('PostgresStore specifics', { skip: skip ?? false }, () => {
  it('fails to open with a clear error naming host, database and user (never the password)', async () => {
    const options = { ...testPostgresOptions(), port: 1, password: 'hunter2-secret', connectionTimeout: 2 };
    await assert.rejects(PostgresStore.open(options), (err: unknown) => {
      assert.ok(err instanceof PostgresConnectionError);
      assert.match(err.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:1 \(database "skiff_test", user "skiff"\)/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  it('refuses to start on an unmigrated schema and says to run migrate up', async () => {
    const { options, drop } = await freshPostgresSchema();
    try {
      const admin = new pg.Client({ host: options.host, port: options.port, user: options.user, password: options.password, database: options.dbName });
      await admin.connect();
      await admin.query(`DROP TABLE ${options.schema}.schema_migrations`);
      await admin.end();
      await assert.rejects(PostgresStore.open(options), /run "skiff-cp migrate up" first/);
    } finally {
      await drop();
    }
  });

  it('recovers without restart after the server drops every connection', async () => {
    const { options, drop } = await freshPostgresSchema();
    const store = await PostgresStore.open({ ...options, maxOpenConnections: 3 });
    try {
      await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
      // Warm several pooled connections, then kill them all server-side.
      await Promise.all([store.ping(), store.ping(), store.ping()]);
      const admin = new pg.Client({ host: options.host, port: options.port, user: options.user, password: options.password, database: options.dbName });
      await admin.connect();
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid() AND query NOT ILIKE '%pg_stat_activity%' AND application_name = 'skiff-cp'",
        [options.user],
      );
      await admin.end();
      assert.ok(killed.rowCount! >= 1, 'expected to terminate the store’s pooled connections');
      await new Promise((r) => setTimeout(r, 100));
      // Reads succeed again (retried once on a fresh connection), and so do writes.
      assert.ok(await store.get({ type: 'Mesh', mesh: '', name: 'default' }));
      await store.create({ type: 'Mesh', mesh: '', name: 'after-outage', spec: {} });
      assert.equal((await store.list('Mesh')).total, 2);
    } finally {
      await store.close();
      await drop();
    }
  });
});

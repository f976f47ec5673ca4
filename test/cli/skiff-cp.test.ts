import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { SKIFF_CP, startCpProcess } from '../helpers/cp-process.js';
import { controlPlanePostgresEnv, freshPostgresSchema, postgresUnavailable } from '../helpers/postgres.js';

// Asked before any test runs: the CLI tests below block the event loop with spawnSync.
const pgSkip = await postgresUnavailable();

const dir = mkdtempSync(join(tmpdir(), 'skiff-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const workDir = () => join(dir, `w${n++}`);

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [SKIFF_CP, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const dataplane = (i: number) => ({ networking: { inbound: [{ interface: `127.0.0.1:${10000 + (i % 50000)}:80`, tags: { service: `svc-${i % 10}` } }] } });

describe('skiff-cp', () => {
  it('prints help for itself and every command', () => {
    const root = cli(['--help']);
    assert.equal(root.code, 0);
    for (const command of ['run', 'migrate up', 'version']) assert.match(root.stdout, new RegExp(command));
    assert.match(cli(['run', '--help']).stdout, /--config-file/);
    assert.match(cli(['migrate', '--help']).stdout, /skiff-cp migrate up/);
    assert.match(cli(['version', '-h']).stdout, /--detailed/);
    assert.equal(cli(['help', 'run']).code, 0);
  });

  it('prints its version, plain and detailed', () => {
    const plain = cli(['version']);
    assert.equal(plain.code, 0);
    assert.match(plain.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.match(cli(['version', '--detailed']).stdout, /Product:\s+Skiff/);
  });

  it('exits 2 on an unknown command or flag', () => {
    const unknown = cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal(cli(['run', '--no-such-flag']).code, 2);
  });

  it('refuses to start on a bad configuration, naming the key', () => {
    const bad = cli(['run'], { KUMA_STORE_TYPE: 'mongo', KUMA_GENERAL_WORK_DIR: workDir() });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /store\.type \(from KUMA_STORE_TYPE\): must be one of: sqlite, memory, postgres/);
  });

  it('creates the default mesh at first start unless told not to, and keeps data in SQLite across restarts', async () => {
    const wd = workDir();
    let cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
    assert.match(cp.output(), /created the default Mesh/);
    assert.equal((await fetch(`${cp.apiUrl}/meshes/default`)).status, 200);
    const put = await fetch(`${cp.apiUrl}/meshes/default/dataplanes/dp-1`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(dataplane(1)) });
    assert.equal(put.status, 201);
    assert.equal(await cp.stop(), 0);
    assert.match(cp.output(), /SIGTERM: shutting down gracefully[\s\S]*stopped/);

    cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
    assert.equal((await fetch(`${cp.apiUrl}/meshes/default/dataplanes/dp-1`)).status, 200);
    assert.doesNotMatch(cp.output(), /created the default Mesh/);
    assert.equal(await cp.stop(), 0);

    const skip = await startCpProcess({ KUMA_GENERAL_WORK_DIR: workDir(), KUMA_DEFAULTS_SKIP_MESH_CREATION: 'true' });
    assert.equal((await fetch(`${skip.apiUrl}/meshes/default`)).status, 404);
    assert.equal(await skip.stop(), 0);
  });

  it('loses no acknowledged write when SIGKILLed during a burst of PUTs (SQLite)', async () => {
    const wd = workDir();
    const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
    const acknowledged: string[] = [];
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const i = next++;
        const name = `dp-${i}`;
        try {
          const response = await fetch(`${cp.apiUrl}/meshes/default/dataplanes/${name}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(dataplane(i)) });
          if (response.status === 201) acknowledged.push(name);
          else if (!stop) assert.fail(`unexpected ${response.status}`);
        } catch {
          return; // the connection died with the process: this write was never acknowledged
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 5));
    await cp.kill();
    stop = true;
    await Promise.all(workers);
    assert.ok(acknowledged.length >= 300);

    const store = new SqliteStore(join(wd, 'skiff.db'));
    try {
      const stored = new Set((await store.list('Dataplane', { mesh: 'default' })).items.map((r) => r.name));
      const lost = acknowledged.filter((name) => !stored.has(name));
      assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged writes lost`);
    } finally {
      await store.close();
    }
  });
});


describe('skiff-cp secrets on disk', () => {
  const mode = (p: string) => `0${(statSync(p).mode & 0o777).toString(8)}`;

  it('writes its database and generated keys owner-only, whatever the umask it was started with', async () => {
    const wd = workDir();
    mkdirSync(wd);
    // A child inherits its parent's umask: start it with a permissive one, which it must not rely on.
    const previous = process.umask(0o022);
    const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd }).finally(() => process.umask(previous));
    try {
      const files = ['skiff.db', 'skiff.db-wal', 'skiff.db-shm'].map((f) => join(wd, f));
      assert.deepEqual(files.map(mode), ['0600', '0600', '0600']);
      assert.equal(mode(join(wd, 'certs')), '0700');
      const keys = readdirSync(join(wd, 'certs')).filter((f) => f.endsWith('.key'));
      assert.ok(keys.length >= 2, `generated keys: ${keys.join(', ')}`);
      for (const key of keys) assert.equal(mode(join(wd, 'certs', key)), '0600', key);
    } finally {
      await cp.stop();
    }
  });

  it('warns at start when an existing database or key is readable by others', async () => {
    const wd = workDir();
    mkdirSync(wd);
    writeFileSync(join(wd, 'skiff.db'), '', { mode: 0o644 });
    chmodSync(join(wd, 'skiff.db'), 0o644);
    const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
    try {
      assert.match(cp.output(), /skiff\.db holds secrets but is readable by other users \(mode 0644\)/);
    } finally {
      await cp.stop();
    }
  });
});

describe('skiff-cp on PostgreSQL', { skip: pgSkip ?? false }, () => {
  it('refuses to run before migrate up, then migrates and serves the API from Postgres', async () => {
    const { options, drop } = await freshPostgresSchema();
    // freshPostgresSchema migrates; use a second, empty schema to see the refusal.
    const empty = await freshPostgresSchema();
    try {
      const env = (schema: string) => ({ ...controlPlanePostgresEnv({ ...options, schema }), KUMA_GENERAL_WORK_DIR: workDir() });
      const clean = `${empty.options.schema}`;
      const { Client } = (await import('pg')).default;
      const admin = new Client({ host: options.host, port: options.port, user: options.user, password: options.password, database: options.dbName });
      await admin.connect();
      await admin.query(`DROP TABLE ${clean}.resources; DROP TABLE ${clean}.schema_migrations`);
      await admin.end();

      const refused = cli(['run'], env(clean));
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /run "skiff-cp migrate up" first/);

      const migrated = cli(['migrate', 'up'], env(clean));
      assert.equal(migrated.code, 0, migrated.stderr + migrated.stdout);
      assert.match(migrated.stdout, /applied migrations 1, 2/);
      assert.match(cli(['migrate', 'up'], env(clean)).stdout, /schema is up to date/);

      const cp = await startCpProcess(env(clean));
      const put = await fetch(`${cp.apiUrl}/meshes/default/dataplanes/dp-1`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(dataplane(1)) });
      assert.equal(put.status, 201);
      assert.equal((await fetch(`${cp.diagnosticsUrl}/ready`)).status, 200);
      assert.equal(await cp.stop(), 0);
      const again = await startCpProcess(env(clean));
      assert.equal((await fetch(`${again.apiUrl}/meshes/default/dataplanes/dp-1`)).status, 200);
      assert.equal(await again.stop(), 0);
    } finally {
      await drop();
      await empty.drop();
    }
  });

  it('fails at start with a clear message when PostgreSQL is unreachable', () => {
    const result = cli(['run'], { KUMA_STORE_TYPE: 'postgres', KUMA_STORE_POSTGRES_PORT: '1', KUMA_STORE_POSTGRES_PASSWORD: 'pw-never-printed', KUMA_GENERAL_WORK_DIR: workDir() });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot connect to PostgreSQL at 127\.0\.0\.1:1/);
    assert.ok(!(result.stderr + result.stdout).includes('pw-never-printed'));
  });
});

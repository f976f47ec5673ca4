import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateUp } from '../../src/store/postgres/migrations.js';
import type { PostgresOptions } from '../../src/store/postgres/postgres-store.js';

const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of a test's own (initdb into a temporary directory, its own port), so a
 * fault test can stop and restart the server without touching the shared test database. Needs
 * PostgreSQL 15's binaries (scripts/setup-postgres.sh installs them) and, as root, the `postgres`
 * user to run the server as. Undefined reason when it can be made; otherwise why not.
 */
export function privateClusterUnavailable(): string | undefined {
  if (!existsSync(`${BIN}/initdb`)) return `no ${BIN}/initdb: run scripts/setup-postgres.sh`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'no postgres user to run a private cluster as';
    }
  }
  return undefined;
}

export interface PrivateCluster {
  options: PostgresOptions;
  /** Fast shutdown (connections terminated, as in a restart or failover); the event loop keeps running meanwhile. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-pgfault-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const command = (bin: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', `${BIN}/${bin}`, ...args]] : [`${BIN}/${bin}`, args]);
  const run = (bin: string, args: string[]) => execFileSync(...command(bin, args), { stdio: 'pipe' });
  const runAsync = async (bin: string, args: string[]) => void (await promisify(execFile)(...command(bin, args)));
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'skiff', '--no-sync']);
  const port = await freePort();
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const startArgs = ['-D', data, '-o', serverOptions, '-w', '-t', '30', '-l', join(dir, 'log'), 'start'];
  const stopArgs = ['-D', data, '-m', 'fast', '-w', 'stop'];
  run('pg_ctl', startArgs);
  const options: PostgresOptions = { host: '127.0.0.1', port, user: 'skiff', password: '', dbName: 'postgres', connectionTimeout: 2, maxOpenConnections: 10 };
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'skiff', database: 'postgres', max: 1 });
  await migrateUp(pool);
  await pool.end();
  return {
    options,
    stop: () => runAsync('pg_ctl', stopArgs),
    start: () => runAsync('pg_ctl', startArgs),
    destroy() {
      try {
        run('pg_ctl', stopArgs);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * REST API throughput benchmark: a real `skiff-cp run` in its own process, driven over keep-alive
 * HTTP by this process, with 10,000 dataplanes stored.
 *
 *   npm run bench:api -- [--store sqlite|postgres|both] [--dataplanes 10000] [--concurrency 32]
 *
 * Phases: create N dataplanes (PUT, 201), update them all (PUT, 200), GET random ones, and walk
 * the whole list in pages of 100 and 1000. Prints a table and, last, one JSON line per store.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCpProcess, type RunningCp } from '../../test/helpers/cp-process.js';
import { freshPostgresSchema, postgresUnavailable } from '../../test/helpers/postgres.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'both' },
    dataplanes: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    gets: { type: 'string', default: '30000' },
  },
});
const N = Number(values.dataplanes);
const CONCURRENCY = Number(values.concurrency);
const GETS = Number(values.gets);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function request(base: URL, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

interface PhaseResult {
  phase: string;
  requests: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `count` requests with CONCURRENCY in flight; each must answer `expect`. */
async function phase(name: string, count: number, expect: number, make: (i: number) => Promise<{ status: number }>): Promise<PhaseResult> {
  const latencies: number[] = new Array(count);
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const { status } = await make(i);
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      if (status !== expect) throw new Error(`${name}: request ${i} answered ${status}, expected ${expect}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return { phase: name, requests: count, seconds, perSecond: count / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

const dataplane = (i: number, version: string) =>
  JSON.stringify({
    type: 'Dataplane',
    mesh: 'default',
    name: `dp-${i}`,
    networking: {
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': `svc-${i % 1000}`, version } }],
      outbound: [1, 2, 3].map((k) => ({ port: 10000 + k, tags: { 'kuma.io/service': `svc-${(i + k) % 1000}` } })),
    },
  });

async function walkPages(base: URL, size: number): Promise<PhaseResult> {
  let path: string | null = `/meshes/default/dataplanes?size=${size}`;
  let pages = 0;
  let items = 0;
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  while (path) {
    const t0 = process.hrtime.bigint();
    const response = await request(base, 'GET', path);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (response.status !== 200) throw new Error(`list page answered ${response.status}`);
    const body = JSON.parse(response.body) as { items: unknown[]; next: string | null };
    items += body.items.length;
    pages++;
    path = body.next ? new URL(body.next).pathname + new URL(body.next).search : null;
  }
  if (items !== N) throw new Error(`walked ${items} items, expected ${N}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return { phase: `list all, pages of ${size}`, requests: pages, seconds, perSecond: pages / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

async function benchStore(store: 'sqlite' | 'postgres'): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
  let cp: RunningCp | undefined;
  let dropSchema: (() => Promise<void>) | undefined;
  try {
    const env: Record<string, string> = { KUMA_GENERAL_WORK_DIR: workDir, KUMA_STORE_TYPE: store };
    if (store === 'postgres') {
      const { options, drop } = await freshPostgresSchema();
      dropSchema = drop;
      Object.assign(env, {
        KUMA_STORE_POSTGRES_HOST: options.host,
        KUMA_STORE_POSTGRES_PORT: String(options.port),
        KUMA_STORE_POSTGRES_USER: options.user,
        KUMA_STORE_POSTGRES_PASSWORD: options.password,
        KUMA_STORE_POSTGRES_DB_NAME: options.dbName,
        PGOPTIONS: `-c search_path=${options.schema}`,
      });
    }
    cp = await startCpProcess(env);
    const base = new URL(cp.apiUrl);
    const results: PhaseResult[] = [];
    results.push(await phase(`PUT create (${N})`, N, 201, (i) => request(base, 'PUT', `/meshes/default/dataplanes/dp-${i}`, dataplane(i, 'v1'))));
    results.push(await phase(`PUT update (${N})`, N, 200, (i) => request(base, 'PUT', `/meshes/default/dataplanes/dp-${i}`, dataplane(i, 'v2'))));
    results.push(await phase(`GET one (random of ${N})`, GETS, 200, () => request(base, 'GET', `/meshes/default/dataplanes/dp-${Math.floor(Math.random() * N)}`)));
    results.push(await phase('GET list page (size 100, random offset)', 2000, 200, () => request(base, 'GET', `/meshes/default/dataplanes?size=100&offset=${Math.floor(Math.random() * (N - 100))}`)));
    results.push(await walkPages(base, 100));
    results.push(await walkPages(base, 1000));

    console.log(`\nSkiff REST API, store=${store}, ${N} dataplanes, concurrency ${CONCURRENCY}`);
    console.table(results.map((r) => ({ phase: r.phase, requests: r.requests, 'req/s': Math.round(r.perSecond), 'p50 ms': r.p50Ms.toFixed(2), 'p99 ms': r.p99Ms.toFixed(2) })));
    const summary = {
      store,
      dataplanes: N,
      concurrency: CONCURRENCY,
      putCreatePerS: Math.round(results[0]!.perSecond),
      putUpdatePerS: Math.round(results[1]!.perSecond),
      getPerS: Math.round(results[2]!.perSecond),
      listPage100PerS: Math.round(results[3]!.perSecond),
      walk100Ms: Math.round(results[4]!.seconds * 1000),
      walk1000Ms: Math.round(results[5]!.seconds * 1000),
    };
    console.log(JSON.stringify(summary));
  } finally {
    if (cp) await cp.stop();
    if (dropSchema) await dropSchema();
    rmSync(workDir, { recursive: true, force: true });
  }
}

const stores = values.store === 'both' ? (['sqlite', 'postgres'] as const) : [values.store as 'sqlite' | 'postgres'];
for (const store of stores) {
  if (store === 'postgres') {
    const unavailable = await postgresUnavailable();
    if (unavailable) {
      console.log(`postgres: skipped (${unavailable})`);
      continue;
    }
  }
  await benchStore(store);
}
agent.destroy();

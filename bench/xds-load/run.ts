/**
 * xDS load benchmark: a real `skiff-cp run` (SQLite) and N Envoy-like proxies in separate
 * load-generator processes, each proxy on its own HTTP/2 connection.
 *
 *   npm run bench -- [options]   (USAGE below, or `--help`)
 *
 * --delta: the proxies speak incremental ADS (DeltaAggregatedResources, delta-stream.ts) instead of
 * state of the world. The floor is the same either way: one grpc-js message per stream.
 *
 * --instances K (K > 1): K control planes on one PostgreSQL (the test database of
 * scripts/setup-postgres.sh, a fresh schema), proxies spread over them round robin, every REST
 * write through the first; the EDS phase then also reports the proxies on the other instances
 * apart (cross-instance propagation).
 *
 * Phases: register M services and N dataplanes over the REST API; open every ADS stream and wait
 * until each proxy has ACKed its complete initial config; then, each timed from the REST answer to
 * every affected proxy's last ACK: (a) one new dataplane of the popular service (every proxy
 * consumes it: EDS), (b) a TrafficRoute splitting a service by version (CDS/EDS/LDS/RDS), and with
 * --mtls (c) mesh mTLS turned on (SDS, CDS, LDS). Prints a table, then one JSON line. For the
 * EDS phase it also reads the control planes' /metrics and says whether `xds_delivery`'s p99
 * bucket holds the p99 the benchmark measured (`edsMetrics` in the JSON line).
 *
 * Then, unless --no-floor, the floor of the same figures on this machine (floor-server.ts): a bare
 * grpc-js server and the same load-generator processes and connection layout. Its sync connects
 * the N streams and gives each five 1 KB responses in turn, each after the previous ACK; its push
 * sends every warmed-up stream one response the size of the EDS phase's, timed to the last ACK.
 * Every figure is printed beside its floor with the ratio (#18's targets).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startCpProcess, type RunningCp } from '../../test/helpers/cp-process.js';
import { controlPlanePostgresEnv, freshPostgresSchema, postgresUnavailable } from '../../test/helpers/postgres.js';

const USAGE = `usage:
  npm run bench -- [--dataplanes 1000] [--services 100] [--outbounds 5] [--workers 2] [--mtls] [--delta] [--instances 1] [--no-floor]
                   [--no-default-policies] [--concurrency 250] [--cpu-prof DIR [--cpu-prof-interval US]] [--cpu-prof-load DIR] [--heap-snapshot DIR] [--eds-rounds R]
  npm run bench -- --sweep [--sweep-sizes 1000,5000,10000,20000] [--sweep-out DIR] [other flags]   (the cost curve, sweep.ts)
  npm run bench -- --sweep-from DIR/xds-load-sweep.json [--sweep-out DIR]   (the table and plot again)`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', default: false },
    dataplanes: { type: 'string', default: '1000' },
    services: { type: 'string', default: '100' },
    outbounds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '250' },
    mtls: { type: 'boolean', default: false },
    /** The load generator speaks incremental (delta) ADS. */
    delta: { type: 'boolean', default: false },
    instances: { type: 'string', default: '1' },
    /** Delete the default mesh's default policies (Kuma's MeshTimeout, MeshRetry, MeshCircuitBreaker) first. */
    'no-default-policies': { type: 'boolean', default: false },
    /** Write a CPU profile of the control plane (node --cpu-prof) into this directory, and one of the floor's server. */
    'cpu-prof': { type: 'string' },
    /** The sampling interval of --cpu-prof in microseconds (node's default is 1000). */
    'cpu-prof-interval': { type: 'string' },
    /** Write a CPU profile of every load-generator process (the floor's too) into this directory. */
    'cpu-prof-load': { type: 'string' },
    /** Write a heap snapshot of the control plane after the last phase into this directory. */
    'heap-snapshot': { type: 'string' },
    /** Repeat the EDS change this many times (each a new dataplane of svc-0) and print every round's p99: A/B comparisons. */
    'eds-rounds': { type: 'string', default: '1' },
    /** Skip the floor measurement. */
    'no-floor': { type: 'boolean', default: false },
    /** The cost curve (sweep.ts): one run per N of --sweep-sizes, M = N/10. */
    sweep: { type: 'boolean', default: false },
    'sweep-sizes': { type: 'string', default: '1000,5000,10000,20000' },
    'sweep-out': { type: 'string', default: '.' },
    /** Render the table and plot again from a sweep's xds-load-sweep.json, without running. */
    'sweep-from': { type: 'string' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values['sweep-from']) {
  const { render } = await import('./sweep.js');
  const saved = JSON.parse(readFileSync(values['sweep-from'], 'utf8')) as { results: Parameters<typeof render>[0]; skipped: number[]; openFileLimit: number };
  render(saved.results, saved.skipped, saved.openFileLimit, values['sweep-out']);
  process.exit(0);
}
if (values.sweep) {
  const { sweep } = await import('./sweep.js');
  const sizes = values['sweep-sizes'].split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 10)) throw new Error(`--sweep-sizes takes a comma-separated list of N: ${values['sweep-sizes']}`);
  // What each run takes from this command: every flag but the sweep's own, N and M.
  const ownWithValue = new Set(['--sweep-sizes', '--sweep-out', '--dataplanes', '--services']);
  const passOn: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!.split('=')[0]!;
    if (flag === '--sweep') continue;
    if (ownWithValue.has(flag)) {
      if (!argv[i]!.includes('=')) i++;
      continue;
    }
    passOn.push(argv[i]!);
  }
  await sweep(sizes, passOn, values['sweep-out']);
  process.exit(0);
}
const N = Number(values.dataplanes);
const M = Number(values.services);
const K = Math.min(Number(values.outbounds), M - 1);
const W = Number(values.workers);
const I = Math.max(1, Number(values.instances));
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const FLOOR_SERVER = fileURLToPath(new URL('./floor-server.js', import.meta.url));
const now = () => performance.timeOrigin + performance.now();
const PROTOCOL = values.delta ? 'delta xDS' : 'state-of-the-world xDS';

/** Deterministic pseudo-random numbers, so every run registers the same mesh. */
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const service = (i: number) => `svc-${i}`;
/** Even services speak HTTP (listeners with RDS), odd ones TCP. */
const protocolOf = (s: number) => (s % 2 === 0 ? 'http' : 'tcp');

/** How many dataplanes call each service (the proxies a change of it concerns). */
const consumers = new Map<string, number>();

function dataplane(i: number) {
  const own = i % M;
  const outbound = new Set<number>([own === 0 ? 1 : 0]); // svc-0 is the popular one: everyone calls it
  while (outbound.size < K) {
    const s = Math.floor(random() * M);
    if (s !== own) outbound.add(s);
  }
  for (const s of outbound) consumers.set(service(s), (consumers.get(service(s)) ?? 0) + 1);
  return {
    networking: {
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': service(own), 'kuma.io/protocol': protocolOf(own), version: i % 2 ? 'v2' : 'v1' } }],
      outbound: [...outbound].map((s, k) => ({ port: 10001 + k, tags: { 'kuma.io/service': service(s) } })),
    },
  };
}

/** CPU seconds and RSS of a process, from /proc. */
function usage(pid: number): { cpuS: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuS: ticks / 100, rssMb: Number(rss ?? 0) / 1024 };
}

interface Report {
  cpuS: number;
  /** Streams with an ACK since the mark (a brief report has only this, not `acks`). */
  updated: number;
  acks: number[];
  /** The instance each of `acks` came through. */
  acksInstance: number[];
  lastActivity: number;
  bytes: number;
  drops: number;
  responses: number;
  rssMb: number;
}

const dirs: string[] = [];
let dropSchema: (() => Promise<void>) | undefined;
const cpEnv: Record<string, string> = { KUMA_XDS_SERVER_TLS_ENABLED: 'false', KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none' };
if (I > 1) {
  const unavailable = await postgresUnavailable();
  if (unavailable) throw new Error(`--instances needs PostgreSQL: ${unavailable}`);
  const fresh = await freshPostgresSchema();
  dropSchema = fresh.drop;
  Object.assign(cpEnv, controlPlanePostgresEnv(fresh.options));
}
const cps: RunningCp[] = [];
for (let k = 0; k < I; k++) {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-xds-load-'));
  dirs.push(dir);
  cps.push(
    await startCpProcess(
      { KUMA_GENERAL_WORK_DIR: dir, ...(I > 1 ? {} : { KUMA_STORE_TYPE: 'sqlite', KUMA_STORE_SQLITE_PATH: join(dir, 'skiff.db') }), ...cpEnv },
      // The load generator speaks for N nodes without tokens: a trusted loopback with authentication off.
      [],
      [
        ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []),
        ...(values['cpu-prof'] && values['cpu-prof-interval'] ? [`--cpu-prof-interval=${values['cpu-prof-interval']}`] : []),
        ...(values['heap-snapshot'] ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${values['heap-snapshot']}`] : []),
      ],
    ),
  );
}
/** Every REST write goes through the first instance. */
const cp = cps[0]!;
/** CPU and RSS of all the control planes together. */
function cpUsage(): { cpuS: number; rssMb: number } {
  return cps.map((c) => usage(c.proc.pid!)).reduce((t, u) => ({ cpuS: t.cpuS + u.cpuS, rssMb: t.rssMb + u.rssMb }), { cpuS: 0, rssMb: 0 });
}
let workers: ChildProcess[] = [];
const forkWorkers = () => Array.from({ length: W }, () => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=8192', '--expose-gc', ...(values['cpu-prof-load'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof-load']] : [])] }));

/** Splits the N nodes over the W workers, starts them and resolves with each stream's sync time from `start`. */
function syncAll(addresses: string[], floorMessages?: number): Promise<number[]> {
  const nodes: string[][] = Array.from({ length: W }, () => []);
  for (let i = 0; i < N; i++) nodes[i % W]!.push(`default.dp-${i}`);
  const syncStart = now();
  const syncTimes: number[] = [];
  return new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`initial sync incomplete after 600 s: ${syncTimes.length}/${N}`)), 600_000);
    workers.forEach((w, k) => {
      w.on('message', (m: { ev: string; at?: number }) => {
        if (m.ev !== 'synced') return;
        syncTimes.push(m.at! - syncStart);
        if (syncTimes.length % Math.max(1, Math.floor(N / 10)) === 0) console.error(`  synced ${syncTimes.length}/${N}`);
        if (syncTimes.length === N) {
          clearTimeout(timer);
          resolve(syncTimes);
        }
      });
      w.send({ cmd: 'start', addresses, nodes: nodes[k], concurrency: Number(values.concurrency), floorMessages, delta: values.delta && !floorMessages });
    });
  });
}

async function put(path: string, body: unknown): Promise<void> {
  const r = await fetch(cp.apiUrl + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`PUT ${path}: ${r.status} ${await r.text()}`);
}

function ask<T>(worker: ChildProcess, message: object, ev: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: { ev: string }) => {
      if (m.ev !== ev) return;
      worker.off('message', onMessage);
      resolve(m as T);
    };
    worker.on('message', onMessage);
    worker.send(message);
  });
}

const reportAll = (brief = false) => Promise.all(workers.map((w) => ask<Report>(w, { cmd: 'report', brief }, 'report')));

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
const round = (x: number) => Math.round(x * 10) / 10;
function summary(latencies: number[]) {
  const s = [...latencies].sort((a, b) => a - b);
  return { affected: s.length, p50Ms: round(pct(s, 50)), p95Ms: round(pct(s, 95)), p99Ms: round(pct(s, 99)), maxMs: round(s.at(-1) ?? NaN) };
}

/**
 * Runs `change` after marking the workers and waits until the `expected` proxies have ACKed an
 * update and ACKs have stopped for a moment (or, short of that, for `quietMs` after the first
 * one; at most `maxMs`). Latencies count from the REST call's answer.
 */
async function phase(name: string, expected: number, change: () => Promise<number | void>, quietMs = 3000, maxMs = 120_000, measured = cpUsage) {
  await Promise.all(workers.map((w) => ask(w, { cmd: 'mark' }, 'marked')));
  const before = measured();
  const loadBefore = (await reportAll()).reduce((t, r) => t + r.cpuS, 0);
  // From the REST answer, or from when the change says it began.
  const answered = (await change()) ?? now();
  let last = 0;
  let lastChange = now();
  let reports: Report[] = [];
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    // Brief while waiting: a full report (every ACK time) every 250 ms was load on the cores being measured.
    reports = await reportAll(true);
    const activity = Math.max(...reports.map((r) => r.lastActivity));
    if (activity !== last) {
      last = activity;
      lastChange = now();
    }
    const updated = reports.reduce((t, r) => t + r.updated, 0);
    const quietFor = now() - lastChange;
    if (last > answered && ((updated >= expected && quietFor > 500) || quietFor > quietMs)) break;
    if (now() - answered > maxMs) break;
  }
  const after = measured();
  const loadCpuS = round(reports.reduce((t, r) => t + r.cpuS, 0) - loadBefore);
  reports = await reportAll();
  const latencies = reports.flatMap((r) => r.acks.map((a, i) => ({ ms: a - answered, instance: r.acksInstance[i] ?? 0 })));
  const result = {
    name,
    expected,
    ...summary(latencies.map((l) => l.ms)),
    cpCpuS: round(after.cpuS - before.cpuS),
    cpRssMb: Math.round(after.rssMb),
    loadCpuS,
    // Proxies on an instance other than the one the REST write went through.
    crossInstance: I > 1 ? summary(latencies.filter((l) => l.instance !== 0).map((l) => l.ms)) : undefined,
  };
  console.error(`  ${name}: ${result.affected} of the ${expected} proxies it concerns updated, p99 ${result.p99Ms} ms`);
  if (result.affected < expected) {
    // What the control planes warned of, to tell why some proxies were not reached.
    for (const c of cps) for (const line of c.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-10)) console.error(`    control plane: ${line.slice(0, 400)}`);
  }
  return result;
}

/** A control plane's /metrics text. */
const scrape = async (c: RunningCp): Promise<string> => (await fetch(`${c.diagnosticsUrl}/metrics`)).text();

/** A histogram's cumulative bucket counts (`le` → count) from every control plane's /metrics, summed. */
async function buckets(metric: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const c of cps) {
    const text = await scrape(c);
    for (const m of text.matchAll(new RegExp(`^${metric}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))) {
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      out.set(le, (out.get(le) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

/** Gauges of the process's memory from every control plane's /metrics (prom-client's default metrics), summed, in MB. */
async function memoryGauges(): Promise<{ heapTotalMb: number; heapUsedMb: number; externalMb: number }> {
  const sum = { heapTotalMb: 0, heapUsedMb: 0, externalMb: 0 };
  const names = { heapTotalMb: 'nodejs_heap_size_total_bytes', heapUsedMb: 'nodejs_heap_size_used_bytes', externalMb: 'nodejs_external_memory_bytes' } as const;
  for (const c of cps) {
    const text = await scrape(c);
    for (const [key, metric] of Object.entries(names) as Array<[keyof typeof sum, string]>) {
      const value = new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)?.[1];
      sum[key] += Math.round(Number(value ?? 0) / 1048576);
    }
  }
  return sum;
}

/** Of the observations between two scrapes: how many, and the bucket (lower, upper] their p-th percentile falls in. */
function bucketPercentile(before: Map<number, number>, after: Map<number, number>, p: number): { count: number; above: number; atMost: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  let above = 0;
  for (const le of bounds) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= (p / 100) * count) return { count, above, atMost: le };
    above = le;
  }
  return { count, above, atMost: Infinity };
}

/** Signals the control plane to write a heap snapshot and waits until the file is complete. */
async function heapSnapshot(target: RunningCp, dir: string): Promise<void> {
  const before = new Set(readdirSync(dir));
  process.kill(target.proc.pid!, 'SIGUSR2');
  for (let size = -1; ; ) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const now = statSync(join(dir, file)).size;
    if (now === size && now > 0) {
      console.error(`  heap snapshot of the control plane: ${join(dir, file)}`);
      return;
    }
    size = now;
  }
}

async function stopAll(): Promise<void> {
  for (const w of workers.splice(0)) w.send({ cmd: 'stop' });
  await Promise.all(cps.splice(0).map((c) => c.stop()));
}

interface Floor {
  pushP99Ms: number;
  pushCpuS: number;
  /** The load generators' CPU over the timed push, beside the EDS phase's: what the proxies pay per message. */
  pushLoadCpuS: number;
  syncMs: number;
  /** The floor server's CPU and the load generators' over the sync: with the control plane's, what bounds a sync on shared cores. */
  syncCpuS: number;
  syncLoadCpuS: number;
  rssMb: number;
  pushBytes: number;
}
let floorServer: ChildProcess | undefined;

/** The same figures from a bare grpc-js server (floor-server.ts) and fresh load generators. */
async function measureFloor(pushBytes: number): Promise<Floor> {
  console.error(`floor: a bare grpc-js server, ${N} streams, five 1 KB responses each, then pushes of ${pushBytes} B`);
  // With --cpu-prof, the floor's server is profiled too (into the same directory): the two to compare.
  const server = fork(FLOOR_SERVER, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`, ...(values['cpu-prof-interval'] ? [`--cpu-prof-interval=${values['cpu-prof-interval']}`] : [])] : [],
  });
  floorServer = server;
  const { port } = await ask<{ port: number }>(server, { cmd: 'listen', messages: 5, bytes: 1024 }, 'listening');
  workers = forkWorkers();
  const serverUsage = () => usage(server.pid!);
  const beforeSync = serverUsage();
  const syncTimes = await syncAll([`127.0.0.1:${port}`], 5);
  const syncCpuS = round(serverUsage().cpuS - beforeSync.cpuS);
  await new Promise((r) => setTimeout(r, 1500));
  // Measured as the control plane's sync is: the load generators' CPU since they started.
  const syncLoadCpuS = round((await reportAll()).reduce((t, r) => t + r.cpuS, 0));
  const rssMb = serverUsage().rssMb;
  const push = () => phase('floor: one push to every stream', N, async () => (await ask<{ at: number }>(server, { cmd: 'push', bytes: pushBytes }, 'pushed')).at, 3000, 120_000, serverUsage);
  await push(); // warm-up: the first push after the sync pays for lazily grown buffers
  const timed = await push();
  await stopAll();
  server.send({ cmd: 'stop' });
  floorServer = undefined;
  return { pushP99Ms: timed.p99Ms, pushCpuS: timed.cpCpuS, pushLoadCpuS: timed.loadCpuS, syncMs: Math.round(Math.max(...syncTimes)), syncCpuS, syncLoadCpuS, rssMb: Math.round(rssMb), pushBytes };
}

/** The EDS phase's change: one more dataplane of svc-0, which every proxy calls. */
const addPopularDataplane = (name: string, address: string) =>
  put(`/meshes/default/dataplanes/${name}`, { networking: { address, inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': 'svc-0', 'kuma.io/protocol': 'http', version: 'v1' } }] } });

try {
  console.error(`xds-load: N=${N} dataplanes, M=${M} services, K=${K} outbounds, ${W} load-generator processes, ${PROTOCOL}`);
  if (values['no-default-policies']) {
    for (const path of ['meshtimeouts/mesh-timeout-all-default', 'meshtimeouts/mesh-gateways-timeout-all-default', 'meshretries/mesh-retry-all-default', 'meshcircuitbreakers/mesh-circuit-breaker-all-default']) {
      const r = await fetch(`${cp.apiUrl}/meshes/default/${path}`, { method: 'DELETE' });
      if (r.status !== 200) throw new Error(`DELETE ${path}: ${r.status}`);
    }
  }
  const registerStart = now();
  let nextDp = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = nextDp++; i < N; i = nextDp++) await put(`/meshes/default/dataplanes/dp-${i}`, dataplane(i));
    }),
  );
  const registerMs = now() - registerStart;
  console.error(`  registered ${N} dataplanes in ${Math.round(registerMs)} ms`);

  workers = forkWorkers();
  const beforeSync = cpUsage();
  const syncTimes = await syncAll(cps.map((c) => c.xdsAddress));
  const initialSyncMs = Math.max(...syncTimes);
  const afterSync = cpUsage();
  await new Promise((r) => setTimeout(r, 1500)); // let the insight flush settle before measuring changes
  const loadSyncCpu = (await reportAll()).reduce((t, r) => t + r.cpuS, 0);
  const sync = { name: 'initial sync', expected: N, ...summary(syncTimes), cpCpuS: round(afterSync.cpuS - beforeSync.cpuS), cpRssMb: Math.round(afterSync.rssMb), loadCpuS: round(loadSyncCpu) };

  const bytesBeforeEds = (await reportAll()).reduce((t, r) => ({ bytes: t.bytes + r.bytes, responses: t.responses + r.responses }), { bytes: 0, responses: 0 });
  const [deliveryBefore, generationBefore] = [await buckets('xds_delivery'), await buckets('xds_generation')];
  const eds = await phase('EDS: new dataplane of the popular service', consumers.get('svc-0') ?? 0, () => addPopularDataplane('dp-new', '10.255.255.254'));
  const bytesAfterEds = (await reportAll()).reduce((t, r) => ({ bytes: t.bytes + r.bytes, responses: t.responses + r.responses }), { bytes: 0, responses: 0 });
  // What /metrics says of the same phase: xds_delivery counts from the store change, the benchmark from the REST answer.
  const edsMetrics = { delivery: bucketPercentile(deliveryBefore, await buckets('xds_delivery'), 99), generation: bucketPercentile(generationBefore, await buckets('xds_generation'), 99) };
  /** The EDS phase's average response payload, the floor's push size. */
  const edsBytes = Math.max(1, Math.round((bytesAfterEds.bytes - bytesBeforeEds.bytes) / Math.max(1, bytesAfterEds.responses - bytesBeforeEds.responses)));
  // More EDS changes for A/B comparisons; the table keeps the first, as every earlier run had it.
  const edsRounds = [eds.p99Ms];
  for (let round = 2; round <= Number(values['eds-rounds']); round++) {
    const again = await phase(`EDS round ${round}`, consumers.get('svc-0') ?? 0, () => addPopularDataplane(`dp-new-${round}`, `10.255.254.${round % 250}`));
    edsRounds.push(again.p99Ms);
  }
  const route = await phase('TrafficRoute: split svc-1 by version', consumers.get('svc-1') ?? 0, () =>
    put('/meshes/default/traffic-routes/split-svc-1', {
      type: 'TrafficRoute',
      mesh: 'default',
      name: 'split-svc-1',
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': 'svc-1' } }],
      conf: { split: [{ weight: 90, destination: { 'kuma.io/service': 'svc-1', version: 'v1' } }, { weight: 10, destination: { 'kuma.io/service': 'svc-1', version: 'v2' } }] },
    }),
  );
  const phases = [sync, eds, route];
  let mtls: (ReturnType<typeof summary> & { expected: number }) | undefined;
  if (values.mtls) {
    const r = await phase('mTLS on for the mesh', N, () => put('/meshes/default', { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }), 5000, 600_000);
    phases.push(r);
    mtls = r;
  }

  const final = await reportAll();
  const totals = { bytes: final.reduce((t, r) => t + r.bytes, 0), dropped: final.reduce((t, r) => t + r.drops, 0), responses: final.reduce((t, r) => t + r.responses, 0) };
  const end = cpUsage();
  const memory = await memoryGauges();
  if (values['heap-snapshot']) await heapSnapshot(cp, values['heap-snapshot']);
  let floor: Floor | undefined;
  if (!values['no-floor']) {
    await stopAll(); // the floor gets the machine to itself, as the control plane had
    floor = await measureFloor(edsBytes);
  }
  const where = I > 1 ? `${I} skiff-cp instances on PostgreSQL (CPU and RSS summed over them)` : 'skiff-cp on SQLite';
  console.log(`\nxds-load: ${N} proxies speaking ${PROTOCOL} (${W} load-generator processes, one HTTP/2 connection each), ${M} services, ${K} outbounds each; ${where}`);
  console.table(phases.map((p) => ({ phase: p.name, 'proxies concerned': p.expected, 'updated': p.affected, 'p50 ms': p.p50Ms, 'p95 ms': p.p95Ms, 'p99 ms': p.p99Ms, 'max ms': p.maxMs, 'CP CPU s': p.cpCpuS, 'load-gen CPU s': p.loadCpuS, 'CP RSS MB': p.cpRssMb })));
  console.log(`registration ${Math.round(registerMs)} ms; initial sync of all ${Math.round(initialSyncMs)} ms; ${(totals.bytes / 1048576).toFixed(1)} MiB of resources in ${totals.responses} responses; streams dropped: ${totals.dropped}; CP RSS ${Math.round(end.rssMb)} MB (${Math.round((end.rssMb * 1024) / N)} KB a proxy), CP CPU ${round(end.cpuS)} s in all; load generators' RSS ${Math.round(final.reduce((t, r) => t + r.rssMb, 0))} MB`);
  if (edsRounds.length > 1) console.log(`EDS change p99 over ${edsRounds.length} rounds: ${edsRounds.join(', ')} ms (median ${[...edsRounds].sort((a, b) => a - b)[Math.floor(edsRounds.length / 2)]} ms)`);
  console.log(`CP memory at the end: V8 heap ${memory.heapTotalMb} MB (${memory.heapUsedMb} MB used), external ${memory.externalMb} MB (buffers), the rest of the RSS ${Math.round(end.rssMb - memory.heapTotalMb - memory.externalMb)} MB (native: HTTP/2 sessions, OpenSSL, SQLite, worker threads, code)`);
  if (floor) {
    const ratio = (x: number, f: number) => Math.round((x / f) * 100) / 100;
    const rssTarget = Math.round(floor.rssMb + (15 * N) / 1024);
    console.log(`\nagainst the floor (a bare grpc-js server, the same ${W} load-generator processes; push of ${floor.pushBytes} B, the EDS phase's response size):`);
    console.table([
      { figure: 'EDS change p99 ms', skiff: eds.p99Ms, floor: floor.pushP99Ms, ratio: ratio(eds.p99Ms, floor.pushP99Ms), target: '≤ 1.25× floor' },
      { figure: 'EDS phase CP CPU s', skiff: eds.cpCpuS, floor: floor.pushCpuS, ratio: ratio(eds.cpCpuS, floor.pushCpuS), target: '≤ 1.5× floor' },
      { figure: 'EDS phase load-gen CPU s', skiff: eds.loadCpuS, floor: floor.pushLoadCpuS, ratio: ratio(eds.loadCpuS, floor.pushLoadCpuS), target: '' },
      { figure: 'initial sync ms', skiff: Math.round(initialSyncMs), floor: floor.syncMs, ratio: ratio(initialSyncMs, floor.syncMs), target: '≤ 1.3× floor' },
      { figure: 'initial sync CP CPU s', skiff: sync.cpCpuS, floor: floor.syncCpuS, ratio: ratio(sync.cpCpuS, floor.syncCpuS), target: '' },
      { figure: 'initial sync load-gen CPU s', skiff: sync.loadCpuS, floor: floor.syncLoadCpuS, ratio: ratio(sync.loadCpuS, floor.syncLoadCpuS), target: '' },
      { figure: 'CP RSS MB', skiff: Math.round(end.rssMb), floor: floor.rssMb, ratio: ratio(end.rssMb, floor.rssMb), target: `≤ floor + 15 KB a proxy (${rssTarget} MB)` },
      { figure: 'TrafficRoute p99 ms', skiff: route.p99Ms, floor: '', ratio: '', target: '≤ 250' },
      ...(mtls ? [{ figure: 'mTLS on p99 ms', skiff: mtls.p99Ms, floor: '', ratio: '', target: '≤ 10000' }] : []),
    ]);
  }
  const { delivery, generation } = edsMetrics;
  const agrees = eds.p99Ms > delivery.above * 0.9 && eds.p99Ms <= delivery.atMost;
  console.log(
    `/metrics over the EDS phase: xds_delivery ${delivery.count} observations, p99 in (${delivery.above}, ${delivery.atMost}] ms, the benchmark's p99 ${eds.p99Ms} ms: ${agrees ? 'agree' : 'DISAGREE'}; xds_generation ${generation.count} observations, p99 in (${generation.above}, ${generation.atMost}] ms`,
  );
  if (eds.crossInstance) console.log(`EDS on the instances the write did not go through: ${eds.crossInstance.affected} proxies, p50 ${eds.crossInstance.p50Ms} ms, p99 ${eds.crossInstance.p99Ms} ms`);
  const pick = (p: ReturnType<typeof summary> & { expected: number }) => ({ concerned: p.expected, affected: p.affected, p50Ms: p.p50Ms, p95Ms: p.p95Ms, p99Ms: p.p99Ms, maxMs: p.maxMs });
  console.log(
    JSON.stringify({
      n: N,
      protocol: values.delta ? 'delta' : 'sotw',
      instances: I,
      store: I > 1 ? 'postgres' : 'sqlite',
      services: M,
      outbounds: K,
      registerMs: Math.round(registerMs),
      initialSyncMs: Math.round(initialSyncMs),
      eds: pick(eds),
      ...(eds.crossInstance ? { edsCrossInstance: eds.crossInstance } : {}),
      ...(edsRounds.length > 1 ? { edsRounds } : {}),
      edsMetrics: { deliveryCount: delivery.count, deliveryP99Ms: [delivery.above, delivery.atMost], generationCount: generation.count, generationP99Ms: [generation.above, generation.atMost], agrees },
      route: pick(route),
      ...(mtls ? { mtls: pick(mtls) } : {}),
      cpRssMb: Math.round(end.rssMb),
      cpMemory: memory,
      cpCpuS: round(end.cpuS),
      phases: phases.map((p) => ({ name: p.name, cpCpuS: p.cpCpuS, loadCpuS: p.loadCpuS, cpRssMb: p.cpRssMb })),
      bytes: totals.bytes,
      dropped: totals.dropped,
      ...(floor ? { floor } : {}),
    }),
  );
} finally {
  await stopAll();
  floorServer?.send({ cmd: 'stop' });
  await dropSchema?.();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

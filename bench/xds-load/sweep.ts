/**
 * The cost curve: `npm run bench -- --sweep [--sweep-sizes 1000,5000,10000,20000] [--mtls] [--sweep-out DIR]`
 * runs the benchmark once per N (M = N/10, the other flags passed on), each in a process of its
 * own, and prints per-proxy CPU and memory and each phase's p99 against N with the floor beside
 * them, as a Markdown table, and writes it with an SVG plot into --sweep-out (default: the
 * current directory): xds-load-sweep.md, xds-load-sweep.svg, xds-load-sweep.json.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineChart, type Series } from './plot.js';

/** A phase's p99, and how many of the proxies it concerned it reached. */
interface Phase {
  p99Ms: number;
  concerned: number;
  affected: number;
}

export interface RunResult {
  n: number;
  initialSyncMs: number;
  eds: Phase;
  route: Phase;
  mtls?: Phase;
  cpRssMb: number;
  dropped: number;
  phases: Array<{ name: string; cpCpuS: number; cpRssMb: number }>;
  floor?: { pushP99Ms: number; pushCpuS: number; syncMs: number; rssMb: number };
}

/** One control plane holds a socket per proxy: N past the open-file limit cannot be measured here. */
function openFileLimit(): number {
  const line = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return line ? Number(line[1]) : Infinity;
}
const FD_HEADROOM = 500;

function runOnce(n: number, passOn: string[]): Promise<RunResult> {
  const script = fileURLToPath(new URL('./run.js', import.meta.url));
  const args = [script, '--dataplanes', String(n), '--services', String(Math.max(10, Math.round(n / 10))), ...passOn];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('exit', (code) => {
      const json = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code !== 0 || !json) reject(new Error(`the run at N=${n} failed (exit ${code})`));
      else resolve(JSON.parse(json) as RunResult);
    });
  });
}

export async function sweep(sizes: number[], passOn: string[], outDir: string): Promise<void> {
  const limit = openFileLimit();
  const results: RunResult[] = [];
  const skipped: number[] = [];
  for (const n of sizes) {
    if (n + FD_HEADROOM > limit) {
      console.error(`sweep: N=${n} skipped: a control plane needs a socket per proxy and this machine's open-file limit is ${limit}`);
      skipped.push(n);
      continue;
    }
    console.error(`sweep: N=${n}`);
    results.push(await runOnce(n, passOn));
  }
  render(results, skipped, limit, outDir);
}

type Row = ReturnType<typeof rowsOf>[number];

function rowsOf(results: RunResult[]) {
  const phase = (r: RunResult, prefix: string) => r.phases.find((p) => p.name.startsWith(prefix));
  const perProxy = (x: number, n: number, unit: number) => Math.round((x * unit) / n * 10) / 10;
  return results.map((r) => ({
    n: r.n,
    syncS: r.initialSyncMs / 1000,
    floorSyncS: r.floor ? r.floor.syncMs / 1000 : undefined,
    edsP99Ms: r.eds.p99Ms,
    floorPushP99Ms: r.floor?.pushP99Ms,
    routeP99Ms: r.route.p99Ms,
    mtlsP99S: r.mtls ? r.mtls.p99Ms / 1000 : undefined,
    syncCpuMsPerProxy: perProxy(phase(r, 'initial sync')?.cpCpuS ?? NaN, r.n, 1000),
    edsCpuUsPerProxy: perProxy(phase(r, 'EDS')?.cpCpuS ?? NaN, r.n, 1e6),
    floorPushCpuUsPerProxy: r.floor ? perProxy(r.floor.pushCpuS, r.n, 1e6) : undefined,
    rssKbPerProxy: perProxy(r.cpRssMb, r.n, 1024),
    floorRssKbPerProxy: r.floor ? perProxy(r.floor.rssMb, r.n, 1024) : undefined,
    dropped: r.dropped,
  }));
}

/** The table, the plot and the raw results, from the runs' JSON lines. */
export function render(results: RunResult[], skipped: number[], limit: number, outDir: string): void {
  const rows = rowsOf(results);
  const cell = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '' : String(Math.round(x * 100) / 100));
  // A p99 of a phase that did not reach every proxy it concerned says how many it did.
  const reached = (phase: Phase | undefined) => (phase && phase.affected < phase.concerned ? ` (only ${phase.affected} of ${phase.concerned} proxies)` : '');
  const byN = new Map(results.map((r) => [r.n, r]));
  const header = '| N | initial sync s (floor) | EDS p99 ms (floor push) | TrafficRoute p99 ms | mTLS on p99 s | sync CPU ms / proxy | EDS CPU µs / proxy (floor) | RSS KB / proxy (floor) | dropped |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  const table = [
    header,
    ...rows.map((r) => `| ${r.n} | ${cell(r.syncS)} (${cell(r.floorSyncS)}) | ${cell(r.edsP99Ms)} (${cell(r.floorPushP99Ms)})${reached(byN.get(r.n)?.eds)} | ${cell(r.routeP99Ms)}${reached(byN.get(r.n)?.route)} | ${cell(r.mtlsP99S)}${reached(byN.get(r.n)?.mtls)} | ${cell(r.syncCpuMsPerProxy)} | ${cell(r.edsCpuUsPerProxy)} (${cell(r.floorPushCpuUsPerProxy)}) | ${cell(r.rssKbPerProxy)} (${cell(r.floorRssKbPerProxy)}) | ${r.dropped} |`),
    ...skipped.map((n) => `| ${n} | not measured: N + ${FD_HEADROOM} exceeds the open-file limit (${limit}) | | | | | | | |`),
  ].join('\n');
  console.log(`\n${table}`);
  const series = (name: string, pick: (r: Row) => number | undefined, dashed = false): Series => ({ name, dashed, points: rows.flatMap((r) => (pick(r) === undefined ? [] : [[r.n, pick(r)!] as [number, number]])) });
  const svg = [
    lineChart('p99 against N', 'ms', [series('initial sync', (r) => r.syncS * 1000), series('floor sync', (r) => (r.floorSyncS === undefined ? undefined : r.floorSyncS * 1000), true), series('EDS change', (r) => r.edsP99Ms), series('floor push', (r) => r.floorPushP99Ms, true), series('TrafficRoute', (r) => r.routeP99Ms), series('mTLS on', (r) => (r.mtlsP99S === undefined ? undefined : r.mtlsP99S * 1000))]),
    lineChart('per proxy against N', 'KB RSS · µs EDS CPU', [series('RSS KB', (r) => r.rssKbPerProxy), series('floor RSS KB', (r) => r.floorRssKbPerProxy, true), series('EDS CPU µs', (r) => r.edsCpuUsPerProxy), series('floor push CPU µs', (r) => r.floorPushCpuUsPerProxy, true)]),
  ];
  writeFileSync(join(outDir, 'xds-load-sweep.svg'), stack(svg));
  writeFileSync(join(outDir, 'xds-load-sweep.md'), `${table}\n`);
  writeFileSync(join(outDir, 'xds-load-sweep.json'), `${JSON.stringify({ results, skipped, openFileLimit: limit }, null, 1)}\n`);
  console.error(`sweep: wrote xds-load-sweep.{md,svg,json} into ${outDir}`);
}

/** Two charts one above the other, in one SVG document. */
function stack(charts: string[]): string {
  const height = 320;
  const body = charts.map((c, i) => `<g transform="translate(0 ${i * height})">${c}</g>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="${height * charts.length}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

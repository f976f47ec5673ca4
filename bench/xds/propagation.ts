/**
 * Propagation latency through a real `skiff-cp run` (child process, SQLite): N Envoy-like ADS
 * streams sync their whole config, then one REST PUT adds an instance of a service every proxy
 * consumes; we time from the PUT's answer to each proxy's ACK of the EDS update that carries it.
 *
 *   npm run bench:xds-propagation -- [--proxies 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../../test/helpers/ads-client.js';
import { startCpProcess } from '../../test/helpers/cp-process.js';

const { values } = parseArgs({ options: { proxies: { type: 'string', default: '200' } } });
const N = Number(values.proxies);
const dir = mkdtempSync(join(tmpdir(), 'skiff-prop-'));
// The load generator speaks for 1,000 nodes without tokens: run on a trusted loopback with authentication off.
const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: dir, KUMA_XDS_SERVER_TLS_ENABLED: 'false', KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none' });
const put = (path: string, body: unknown) =>
  fetch(cp.apiUrl + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
const dp = (i: number, service: string, outbound: string[]) => ({
  networking: {
    address: `10.1.${(i >> 8) & 255}.${i & 255}`,
    inbound: [{ port: 8080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }],
    outbound: outbound.map((s, k) => ({ port: 10001 + k, tags: { 'kuma.io/service': s } })),
  },
});

try {
  await put('/meshes/default/dataplanes/backend-0', dp(0, 'backend', []));
  for (let i = 1; i <= N; i++) await put(`/meshes/default/dataplanes/web-${i}`, dp(i, 'web', ['backend']));

  const syncStart = performance.now();
  const clients = await Promise.all(
    Array.from({ length: N }, async (_, k) => {
      const c = new SotwClient(cp.xdsAddress, `default.web-${k + 1}`);
      c.request(TYPE_URLS.cluster);
      c.ack(await c.expect(TYPE_URLS.cluster, 30_000));
      c.request(TYPE_URLS.endpoint, ['backend']);
      c.ack(await c.expect(TYPE_URLS.endpoint, 30_000), ['backend']);
      c.request(TYPE_URLS.listener);
      c.ack(await c.expect(TYPE_URLS.listener, 30_000));
      return c;
    }),
  );
  const syncMs = performance.now() - syncStart;

  const t0 = performance.now();
  await put('/meshes/default/dataplanes/backend-1', dp(9999, 'backend', []));
  const answered = performance.now();
  const latencies = await Promise.all(
    clients.map(async (c) => {
      const eds = await c.expect(TYPE_URLS.endpoint, 30_000);
      c.ack(eds, ['backend']);
      return performance.now() - answered;
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  console.log(`\nREST change → EDS ACK, ${N} proxies on one skiff-cp (SQLite), PUT answered in ${(answered - t0).toFixed(1)} ms`);
  console.table([{ 'initial sync of all ms': syncMs.toFixed(0), 'p50 ms': pct(50).toFixed(1), 'p99 ms': pct(99).toFixed(1), 'max ms': pct(100).toFixed(1) }]);
  console.log(JSON.stringify({ proxies: N, initialSyncMs: Math.round(syncMs), eds: { p50Ms: +pct(50).toFixed(1), p99Ms: +pct(99).toFixed(1), maxMs: +pct(100).toFixed(1) } }));
  for (const c of clients) c.close();
} finally {
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}

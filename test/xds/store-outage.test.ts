import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane } from '../helpers/control-plane.js';
import { controlPlanePostgresEnv } from '../helpers/postgres.js';
import { privateClusterUnavailable, startPrivateCluster, type PrivateCluster } from '../helpers/pg-cluster.js';

const EDS = TYPE_URLS.endpoint;
const unavailable = privateClusterUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(`the PostgreSQL fault tests must run in CI: ${unavailable}`);

type Endpoints = { endpoints?: Array<{ lb_endpoints?: Array<{ endpoint: { address: { socket_address: { address: string } } } }> }> };
const addresses = (cla: unknown) =>
  ((cla as Endpoints).endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.address)).sort();
const backend = (i: number) => ({ networking: { address: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, inbound: [{ port: 80, tags: { 'kuma.io/service': 'backend' } }] } });
/** Waits for `done`, failing the test (never hanging it) after `ms`. */
async function until(what: string, done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const web = { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } };

describe('a PostgreSQL restart under write load', { skip: unavailable ?? false }, () => {
  // Each test restarts a PostgreSQL cluster of its own.
  const clusters: PrivateCluster[] = [];
  after(async () => {
    for (const c of clusters) await c.destroy();
  });

  it('loses no stored change from xDS, answers 503 with Retry-After while down, and recovers by itself', (t) => restartUnderLoad(t, 1));

  it('with two instances, loses no change written through one from the proxies of the other', (t) => restartUnderLoad(t, 2));

  async function restartUnderLoad(t: TestContext, instances: 1 | 2): Promise<void> {
    const cluster = await startPrivateCluster();
    clusters.push(cluster);
    const o = cluster.options;
    const env = { ...controlPlanePostgresEnv(o), KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT: '2' };
    // Writes go through `cp`; the proxies are on `proxyCp`, the same one or another instance.
    const cp = await startTestControlPlane(t, env);
    const proxyCp = instances === 1 ? cp : await startTestControlPlane(t, env);
    assert.equal(await cp.put('/meshes/default/dataplanes/web-1', web), 201);
    const watcher = new SotwClient(proxyCp.xdsAddress, 'default.web-1');
    t.after(() => watcher.close());
    watcher.request(EDS, ['backend']);
    const first = await watcher.expect(EDS);
    watcher.ack(first, ['backend']);
    let latest = addresses(first.decoded[0]);
    // Keep the connected proxy ACKing everything it is sent, remembering the last endpoints.
    let watching = true;
    const follow = (async () => {
      while (watching) {
        const r = await watcher.inbox.next(500).catch(() => undefined);
        if (!r) continue;
        latest = addresses(r.decoded[0]);
        watcher.ack(r, ['backend']);
      }
    })();

    // Four writers create backends as fast as the API answers, through the outage.
    let next = 0;
    let writing = true;
    const acknowledged: number[] = [];
    const during: Array<{ status: number; retryAfter: string | null; body: { status?: number; title?: string }; ms: number }> = [];
    let down = false;
    const writer = async () => {
      while (writing) {
        const i = next++;
        const started = Date.now();
        const r = await fetch(`${cp.api}/meshes/default/dataplanes/backend-${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(backend(i)) }).catch(() => undefined);
        if (!r) continue;
        const body = (await r.json().catch(() => ({}))) as { status?: number; title?: string };
        if (r.status === 201) acknowledged.push(i);
        else if (down) during.push({ status: r.status, retryAfter: r.headers.get('retry-after'), body, ms: Date.now() - started });
        else if (r.status !== 503 && r.status !== 500) assert.fail(`unexpected ${r.status}: ${JSON.stringify(body)}`);
        if (r.status !== 201) await new Promise((res) => setTimeout(res, 20));
      }
    };
    const writers = Array.from({ length: 4 }, writer);
    try {
      await until('150 writes are acknowledged', () => acknowledged.length >= 150);
      await cluster.stop();
      down = true;
      await new Promise((r) => setTimeout(r, 1500));
      down = false;
      await cluster.start();
      const resumedAt = acknowledged.length;
      await until('writes are acknowledged again after the restart', () => acknowledged.length >= resumedAt + 100);
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // While PostgreSQL was down every write got a 503 in the envelope, with Retry-After.
    assert.ok(during.length > 0, 'writes were attempted during the outage');
    for (const d of during) {
      assert.equal(d.status, 503, JSON.stringify(d));
      assert.equal(d.retryAfter, '1');
      assert.equal(d.body.status, 503);
      assert.equal(d.body.title, 'Service Unavailable');
    }
    // Refused fast, not stalled: well under the 2 s connection timeout this control plane has.
    const slowest = Math.max(...during.map((d) => d.ms));
    assert.ok(slowest < 1000, `a write took ${slowest} ms to fail during the outage`);

    // Every stored backend (acknowledged or not: a write may commit without its answer) reaches the
    // proxy that was connected all along, and a proxy that connects now.
    const stored = (await cp.cp.store.list('Dataplane', { mesh: 'default' })).items.filter((d) => d.name.startsWith('backend-'));
    for (const i of acknowledged) assert.ok(stored.some((d) => d.name === `backend-${i}`), `acknowledged backend-${i} is stored`);
    const expected = stored.map((d) => String((d.spec.networking as { address: string }).address)).sort();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && latest.join() !== expected.join()) await new Promise((r) => setTimeout(r, 50));
    const missing = expected.filter((a) => !latest.includes(a));
    assert.deepEqual(missing, [], `${missing.length} of ${expected.length} stored backends never reached the connected proxy (instances: ${instances})`);
    assert.deepEqual(latest, expected);

    assert.equal(await cp.put('/meshes/default/dataplanes/web-2', { ...web, networking: { ...web.networking, address: '10.0.0.2' } }), 201);
    const fresh = new SotwClient(proxyCp.xdsAddress, 'default.web-2');
    t.after(() => fresh.close());
    fresh.request(EDS, ['backend']);
    assert.deepEqual(addresses((await fresh.expect(EDS)).decoded[0]), expected);
    watching = false;
    watcher.close();
    await follow;
  }
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient, type Response } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { send as sendJson, withSkiffctl } from '../helpers/skiffctl.js';

/**
 * Rollouts: every write answers with `x-skiff-rollout`; the rollout counts the connected proxies
 * whose configuration the write changed, each acknowledged once it ACKed what was sent, rejected on
 * a NACK (with its message), and ends when none is pending. `skiffctl apply --wait` follows it.
 */
const MESH = 'rollouts';
const dp = (address: string, service: string, outbounds: string[] = []) => ({
  networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http' } }], outbound: outbounds.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});
const timeout = (seconds: number) => ({ type: 'MeshTimeout', mesh: MESH, name: 'backend-timeout', spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { connectionTimeout: `${seconds}s` } }] } });

interface Rollout {
  id: string;
  resource: { type: string; mesh: string; name: string };
  operation: string;
  endTime: string | null;
  concerned: number;
  acknowledged: number;
  rejected: number;
  pending: number;
  dataplanes: Array<{ mesh: string; name: string; state: string; instance: string; error?: string }>;
}

describe('rollouts: where a write has arrived', () => {
  let cp: TestControlPlane;
  let proxy: SotwClient;
  /** What the proxy does with a response: ACK it, NACK it, or leave it unanswered. */
  let answer: 'ack' | 'nack' | 'hold' = 'ack';
  const held: Response[] = [];
  const send = (method: string, path: string, body?: unknown) => sendJson(cp.api, method, path, body);

  before(async () => {
    cp = await startTestControlPlane(undefined);
    assert.equal(await cp.put(`/meshes/${MESH}`, { skipCreatingInitialPolicies: ['*'] }), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/web-1`, dp('10.0.0.1', 'web', ['backend'])), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/backend-1`, dp('10.0.0.2', 'backend')), 201);
    proxy = new SotwClient(cp.xdsAddress, `${MESH}.web-1`);
    proxy.request(TYPE_URLS.cluster);
    proxy.ack(await proxy.expect(TYPE_URLS.cluster));
    // From here on the proxy answers as `answer` says, like an Envoy that accepts or rejects.
    void (async () => {
      for (;;) {
        const r = await proxy.inbox.next(60_000).catch(() => undefined);
        if (!r) return;
        if (answer === 'ack') proxy.ack(r);
        else if (answer === 'nack') proxy.nack(r, '', [], 'cluster rejected by the test proxy');
        else held.push(r);
      }
    })();
  });
  after(async () => {
    proxy?.close();
    await cp?.cp.close();
  });

  async function write(method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<string> {
    const r = await fetch(cp.api + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${await r.text()}`);
    const id = r.headers.get('x-skiff-rollout');
    assert.ok(id, `${method} ${path} answers with x-skiff-rollout`);
    return id;
  }
  async function rollout(id: string, until: (r: Rollout) => boolean = (r) => r.endTime !== null): Promise<Rollout> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await send('GET', `/rollouts/${id}`);
      assert.equal(r.status, 200);
      if (until(r.json as Rollout)) return r.json as Rollout;
      assert.ok(Date.now() < deadline, `rollout ${id}: ${JSON.stringify(r.json)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('counts the proxy a change concerns, pending until it ACKs, then acknowledged and ended', async () => {
    answer = 'hold';
    const id = await write('PUT', `/meshes/${MESH}/meshtimeouts/backend-timeout`, timeout(3));
    const pending = await rollout(id, (r) => r.pending === 1);
    assert.equal(pending.endTime, null);
    assert.deepEqual(pending.resource, { type: 'MeshTimeout', mesh: MESH, name: 'backend-timeout' });
    assert.equal(pending.operation, 'create');
    assert.deepEqual(pending.dataplanes.map((d) => [d.mesh, d.name, d.state]), [[MESH, 'web-1', 'pending']]);
    answer = 'ack';
    for (const r of held.splice(0)) proxy.ack(r);
    const done = await rollout(id);
    assert.equal(done.concerned, 1);
    assert.equal(done.acknowledged, 1);
    assert.equal(done.pending, 0);
  });

  it('records a NACK as rejected, with its message', async () => {
    answer = 'nack';
    const id = await write('PUT', `/meshes/${MESH}/meshtimeouts/backend-timeout`, timeout(4));
    const done = await rollout(id);
    assert.equal(done.operation, 'update');
    assert.equal(done.rejected, 1);
    assert.match(done.dataplanes[0]!.error ?? '', /cluster rejected by the test proxy/);
    answer = 'ack';
  });

  it('ends at once, with nobody concerned, when no connected proxy’s config changes; lists recent rollouts newest first', async () => {
    const id = await write('PUT', `/meshes/${MESH}/dataplanes/lonely-1`, dp('10.0.0.9', 'lonely'));
    const done = await rollout(id);
    assert.equal(done.concerned, 0);
    const list = await send('GET', `/rollouts?mesh=${MESH}`);
    assert.equal(list.status, 200);
    assert.equal((list.json.items as Rollout[])[0]!.id, id);
    assert.ok((list.json.items as Rollout[]).every((r) => r.resource.mesh === MESH || (r.resource.type === 'Mesh' && r.resource.name === MESH)));
    const unknown = await send('GET', '/rollouts/no-such-rollout');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.details ?? unknown.json.detail, /not found/);
  });

  it('follows a rollout with skiffctl apply --wait: 0 once ACKed, non-zero naming the dataplane that NACKed', async () => {
    await withSkiffctl(cp.api, async (skiffctl) => {
      answer = 'ack';
      const ok = await skiffctl(['apply', '-f', '-', '--wait', '--timeout', '5s'], toYaml(timeout(5)));
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /1\/1 proxies acknowledged/);
      answer = 'nack';
      const refused = await skiffctl(['apply', '-f', '-', '--wait', '--timeout', '5s'], toYaml(timeout(6)));
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /rejected by rollouts\/web-1 \(.*cluster rejected by the test proxy/);
      answer = 'hold';
      const late = await skiffctl(['apply', '-f', '-', '--wait', '--timeout', '1s'], toYaml(timeout(7)));
      assert.notEqual(late.code, 0);
      assert.match(late.stderr, /timed out after 1 s with pending: rollouts\/web-1/);
      answer = 'ack';
      for (const r of held.splice(0)) proxy.ack(r);
    });
  });

  it('exports rollout durations and NACKs by type URL', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${cp.cp.diagnosticsPort}/metrics`)).text();
    assert.match(metrics, /skiff_rollout_duration_seconds_count [1-9]/);
    assert.match(metrics, /skiff_xds_nacks_total\{type_url="type.googleapis.com\/envoy.config.cluster.v3.Cluster"\} [1-9]/);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jsonPatch from 'fast-json-patch';
import { stringify as toYaml } from 'yaml';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { send as sendJson, withSkiffctl } from '../helpers/skiffctl.js';

/**
 * Previews: `?dryRun=true` answers with the dataplanes whose generated configuration a write would
 * change (the same generators as the real push) and stores and pushes nothing; shadow policies
 * (`kuma.io/effect: shadow`) change no proxy, and `_config?shadow=true&include=diff` shows what
 * they would do.
 */
const MESH = 'preview';
const dp = (address: string, service: string, protocol: string, outbounds: string[] = []) => ({
  networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': protocol } }], outbound: outbounds.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});
const timeout = { type: 'MeshTimeout', mesh: MESH, name: 'backend-timeout', spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { connectionTimeout: '3s' } }] } };

interface Impact {
  dataplanes: number;
  items: Array<{ mesh: string; name: string; added: Array<{ typeUrl: string; name: string }>; removed: Array<{ typeUrl: string; name: string }>; modified: Array<{ typeUrl: string; name: string; patch: jsonPatch.Operation[] }> }>;
}

describe('configuration previews: dry-run impact and shadow policies', () => {
  let cp: TestControlPlane;
  let proxy: SotwClient;
  const send = (method: string, path: string, body?: unknown) => sendJson(cp.api, method, path, body);

  before(async () => {
    cp = await startTestControlPlane(undefined);
    assert.equal(await cp.put(`/meshes/${MESH}`, { skipCreatingInitialPolicies: ['*'] }), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/web-1`, dp('10.0.0.1', 'web', 'http', ['backend'])), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/web-2`, dp('10.0.0.2', 'web', 'http', ['db'])), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/backend-1`, dp('10.0.0.3', 'backend', 'http')), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/db-1`, dp('10.0.0.4', 'db', 'tcp')), 201);
    proxy = new SotwClient(cp.xdsAddress, `${MESH}.web-1`);
    proxy.request(TYPE_URLS.cluster);
    proxy.ack(await proxy.expect(TYPE_URLS.cluster));
  });
  after(async () => {
    proxy?.close();
    await cp?.cp.close();
  });

  /** What web-1's proxy is served now, by xDS type and name. */
  const served = async () => ((await send('GET', `/meshes/${MESH}/dataplanes/web-1/xds`)).json as { resources: Record<string, Record<string, { resource: Record<string, unknown> }>> }).resources;

  it('previews a new policy: exactly the dataplanes it changes, with RFC 6902 patches that turn today’s resources into tomorrow’s; nothing stored or pushed', async () => {
    const r = await send('PUT', `/meshes/${MESH}/meshtimeouts/backend-timeout?dryRun=true`, timeout);
    assert.equal(r.status, 200);
    assert.equal(r.json.dryRun, true);
    assert.equal(r.json.operation, 'create');
    const impact = r.json.impact as Impact;
    assert.equal(impact.dataplanes, 1, JSON.stringify(impact));
    const [item] = impact.items;
    assert.equal(item!.name, 'web-1', 'only the caller of backend');
    assert.deepEqual(item!.added, []);
    assert.deepEqual(item!.removed, []);
    const cluster = item!.modified.find((m) => m.typeUrl === TYPE_URLS.cluster && m.name === 'backend');
    assert.ok(cluster, JSON.stringify(item));
    assert.ok(cluster.patch.some((op) => op.path === '/connect_timeout/seconds' || op.path === '/connect_timeout'), JSON.stringify(cluster.patch));
    // The patch applied to what the proxy holds today gives exactly the new connect timeout.
    const today = (await served()).cds!.backend!.resource;
    const tomorrow = jsonPatch.applyPatch(structuredClone(today), cluster.patch, false, false).newDocument as { connect_timeout: { seconds: string | number } };
    assert.equal(Number(tomorrow.connect_timeout.seconds), 3);
    assert.equal((await send('GET', `/meshes/${MESH}/meshtimeouts/backend-timeout`)).status, 404, 'nothing stored');
    await proxy.inbox.silence(400);
  });

  it('previews a delete: the dataplane loses everything, its callers their endpoints', async () => {
    const r = await send('DELETE', `/meshes/${MESH}/dataplanes/backend-1?dryRun=true`);
    assert.equal(r.status, 200);
    assert.equal(r.json.operation, 'delete');
    const impact = r.json.impact as Impact;
    const byName = new Map(impact.items.map((i) => [i.name, i]));
    assert.deepEqual([...byName.keys()].sort(), ['backend-1', 'web-1']);
    assert.equal(byName.get('backend-1')!.modified.length + byName.get('backend-1')!.added.length, 0);
    assert.ok(byName.get('backend-1')!.removed.some((r) => r.typeUrl === TYPE_URLS.listener), 'its listeners go');
    assert.ok(byName.get('web-1')!.modified.some((m) => m.typeUrl === TYPE_URLS.endpoint && m.name === 'backend'), 'web-1 loses the endpoint');
    assert.equal((await send('GET', `/meshes/${MESH}/dataplanes/backend-1`)).status, 200, 'still there');
    assert.equal((await send('DELETE', `/meshes/${MESH}/dataplanes/nobody?dryRun=true`)).status, 404);
  });

  it('refuses an invalid dry run as a real write is refused', async () => {
    const bad = { ...timeout, spec: { to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: 'soon' } }] } };
    const r = await send('PUT', `/meshes/${MESH}/meshtimeouts/backend-timeout?dryRun=true`, bad);
    assert.equal(r.status, 400);
    assert.ok((r.json.causes as Array<{ field: string }>).some((c) => c.field === 'spec.to[0].default.connectionTimeout'));
  });

  it('stores a shadow policy without changing any proxy, and shows what it would do', async () => {
    const shadow = { type: 'MeshRetry', mesh: MESH, name: 'shadow-retry', labels: { 'kuma.io/effect': 'shadow' }, spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { http: { numRetries: 4 } } }] } };
    assert.equal(await cp.put(`/meshes/${MESH}/meshretries/shadow-retry`, shadow), 201);
    await proxy.inbox.silence(400);
    assert.ok(!JSON.stringify(await served()).includes('retry_policy'), 'no proxy changed');
    const plain = await send('GET', `/meshes/${MESH}/dataplanes/web-1/_config?include=diff`);
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.json.diff, []);
    assert.ok(!JSON.stringify(plain.json.xds).includes('retry_policy'));
    const preview = await send('GET', `/meshes/${MESH}/dataplanes/web-1/_config?shadow=true&include=diff`);
    assert.equal(preview.status, 200);
    assert.ok(JSON.stringify(preview.json.xds.rds['outbound:backend']).includes('"num_retries":{"value":4}'));
    const ops = preview.json.diff as jsonPatch.Operation[];
    assert.ok(ops.length > 0 && ops.every((op) => op.path.startsWith('/rds/outbound:backend/')), JSON.stringify(ops));
    // Made effective (the label removed), the proxy is served exactly that.
    assert.equal(await cp.put(`/meshes/${MESH}/meshretries/shadow-retry`, { ...shadow, labels: {} }), 200);
    const deadline = Date.now() + 3000;
    while (!JSON.stringify((await served()).rds?.['outbound:backend']).includes('"num_retries":{"value":4}')) {
      assert.ok(Date.now() < deadline, 'the effective policy reached the proxy');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual((await send('GET', `/meshes/${MESH}/dataplanes/web-1/_config?shadow=true&include=diff`)).json.diff, [], 'nothing left in shadow');
    assert.equal((await send('GET', `/meshes/${MESH}/dataplanes/nobody/_config`)).status, 404);
  });

  it('prints the impact with skiffctl apply --dry-run, the whole of it with -o json, and a shadow diff with skiffctl inspect', async () => {
    await withSkiffctl(cp.api, async (skiffctl) => {
      const text = await skiffctl(['apply', '-f', '-', '--dry-run'], toYaml(timeout));
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /MeshTimeout preview\/backend-timeout would be created/);
      assert.match(text.stdout, /1 dataplane would change:\n\s+preview\/web-1: .*~cluster backend/);
      const json = await skiffctl(['apply', '-f', '-', '--dry-run', '-o', 'json'], toYaml(timeout));
      assert.equal(json.code, 0, json.stderr);
      assert.equal(JSON.parse(json.stdout).impact.dataplanes, 1);
      const none = await skiffctl(['apply', '-f', '-', '--dry-run'], toYaml({ ...timeout, spec: { ...timeout.spec, to: [{ targetRef: { kind: 'MeshService', name: 'nothing' }, default: { connectionTimeout: '3s' } }] } }));
      assert.match(none.stdout, /no dataplane configuration would change/);
      const shadow = { type: 'MeshTimeout', mesh: MESH, name: 'shadow-timeout', labels: { 'kuma.io/effect': 'shadow' }, spec: timeout.spec };
      assert.equal((await skiffctl(['apply', '-f', '-'], toYaml(shadow))).code, 0);
      const inspected = await skiffctl(['inspect', 'dataplane', 'web-1', '--mesh', MESH, '--type=config', '--shadow', '--include=diff']);
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.ok((JSON.parse(inspected.stdout).diff as jsonPatch.Operation[]).some((op) => op.path.startsWith('/cds/backend/connect_timeout')), inspected.stdout);
    });
  });
});

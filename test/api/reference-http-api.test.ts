import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCpProcess, type RunningCp } from '../helpers/cp-process.js';
import { backend1, exampleOverviewDataplane, mesh1, policies } from './fixtures/reference.js';

/**
 * Replays, in order, every request of the "HTTP API" section of Kuma's reference page against a
 * real `skiff-cp run` (SQLite, ephemeral ports), checking status and body as the page shows them.
 * Bodies we answer with carry Kuma's read-only `creationTime`/`modificationTime` on top of the
 * documented fields; lists carry `total` and `next` on top of `items`.
 */

type Json = Record<string, unknown>;

function withoutTimes(body: Json): Json {
  const { creationTime, modificationTime, ...rest } = body;
  assert.match(String(creationTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'creationTime is RFC 3339');
  assert.match(String(modificationTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'modificationTime is RFC 3339');
  return rest;
}

describe('reference HTTP API replayed against a running skiff-cp', () => {
  let cp: RunningCp;
  let dir: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(cp.apiUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-ref-'));
    cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: dir, KUMA_STORE_POSTGRES_PASSWORD: 'not-to-be-shown' });
  });

  after(async () => {
    const code = await cp.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `graceful exit expected:\n${cp.output()}`);
  });

  it('GET /config: the effective configuration, secrets masked', async () => {
    const { status, body } = await call('GET', '/config');
    assert.equal(status, 200);
    const store = body.store as Json;
    assert.equal(store.type, 'sqlite');
    assert.equal((store.postgres as Json).password, '*****');
    assert.equal((body.apiServer as Json).readOnly, false);
    assert.equal((body.xdsServer as Json).dataplaneConfigurationRefreshInterval, '1s');
    assert.equal((body.bootstrapServer as Json).params && ((body.bootstrapServer as Json).params as Json).xdsPort, 5678);
    assert.equal(body.environment, 'universal');
    assert.doesNotMatch(JSON.stringify(body), /not-to-be-shown/);
  });

  it('Meshes: PUT creates (201), GET returns it, list shows it, PUT again updates (200)', async () => {
    assert.equal((await call('PUT', '/meshes/mesh-1', mesh1)).status, 201);
    const got = await call('GET', '/meshes/mesh-1');
    assert.equal(got.status, 200);
    assert.deepEqual(withoutTimes(got.body), mesh1);
    const list = await call('GET', '/meshes');
    assert.equal(list.status, 200);
    const items = (list.body.items as Json[]).map(withoutTimes);
    assert.deepEqual(items.find((m) => m.name === 'mesh-1'), mesh1);
    assert.deepEqual(items.find((m) => m.name === 'default'), { type: 'Mesh', name: 'default' }, 'the default mesh exists');
    assert.equal(list.body.total, 2);
    assert.equal(list.body.next, null);
    assert.equal((await call('PUT', '/meshes/mesh-1', mesh1)).status, 200);
  });

  it('Dataplanes: PUT creates (201), GET and list return it as written, DELETE (200)', async () => {
    assert.equal((await call('PUT', '/meshes/mesh-1/dataplanes/backend-1', backend1)).status, 201);
    const got = await call('GET', '/meshes/mesh-1/dataplanes/backend-1');
    assert.equal(got.status, 200);
    assert.deepEqual(withoutTimes(got.body), backend1);
    const list = await call('GET', '/meshes/mesh-1/dataplanes');
    assert.equal(list.status, 200);
    assert.deepEqual((list.body.items as Json[]).map(withoutTimes), [backend1]);
    assert.equal((await call('PUT', '/meshes/mesh-1/dataplanes/backend-1', backend1)).status, 200);
    const deleted = await call('DELETE', '/meshes/mesh-1/dataplanes/backend-1');
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, {});
    assert.equal((await call('GET', '/meshes/mesh-1/dataplanes/backend-1')).status, 404);
  });

  it('Dataplane overviews: dataplanes+insights (and the page’s dataplane+insights spelling)', async () => {
    const example = { type: 'Dataplane', mesh: 'default', name: 'example', ...exampleOverviewDataplane };
    assert.equal((await call('PUT', '/meshes/default/dataplanes/example', example)).status, 201);
    for (const plural of ['dataplanes+insights', 'dataplane+insights']) {
      const one = await call('GET', `/meshes/default/${plural}/example`);
      assert.equal(one.status, 200);
      const overview = withoutTimes(one.body);
      assert.equal(overview.type, 'DataplaneOverview');
      assert.equal(overview.mesh, 'default');
      assert.equal(overview.name, 'example');
      assert.deepEqual(overview.dataplane, exampleOverviewDataplane);
      // No proxy has connected (xDS is a later issue): an insight with no subscriptions.
      assert.deepEqual(overview.dataplaneInsight, { subscriptions: [] });
      const list = await call('GET', `/meshes/default/${plural}`);
      assert.equal(list.status, 200);
      assert.deepEqual((list.body.items as Json[]).map((i) => i.name), ['example']);
      assert.equal(list.body.total, 1);
    }
  });

  for (const { plural, body } of policies) {
    it(`${body.type}: PUT (201), GET, list, PUT (200), DELETE (200), then 404`, async () => {
      const path = `/meshes/mesh-1/${plural}/${body.name}`;
      assert.equal((await call('PUT', path, body)).status, 201);
      const got = await call('GET', path);
      assert.equal(got.status, 200);
      assert.deepEqual(withoutTimes(got.body), body);
      const list = await call('GET', `/meshes/mesh-1/${plural}`);
      assert.equal(list.status, 200);
      assert.deepEqual((list.body.items as Json[]).map(withoutTimes), [body]);
      assert.equal(list.body.total, 1);
      assert.equal((await call('PUT', path, body)).status, 200);
      const deleted = await call('DELETE', path);
      assert.equal(deleted.status, 200);
      assert.deepEqual(deleted.body, {});
      const gone = await call('GET', path);
      assert.equal(gone.status, 404);
      assert.equal(typeof gone.body.title, 'string');
    });
  }

  it('DELETE /meshes/mesh-1 (200), and the mesh is gone', async () => {
    assert.equal((await call('PUT', '/meshes/mesh-1/traffic-routes/left-over', { ...policies[4].body, name: 'left-over' })).status, 201);
    assert.equal((await call('DELETE', '/meshes/mesh-1')).status, 200);
    assert.equal((await call('GET', '/meshes/mesh-1')).status, 404);
    assert.equal((await call('GET', '/meshes/mesh-1/traffic-routes/left-over')).status, 404, 'mesh contents go with it');
  });

  it('GET / names the product and version; diagnostics answer', async () => {
    const { status, body } = await call('GET', '/');
    assert.equal(status, 200);
    assert.equal(body.product, 'Skiff');
    assert.equal(typeof body.version, 'string');
    assert.equal(typeof body.hostname, 'string');
    for (const path of ['/healthy', '/ready']) assert.equal((await fetch(cp.diagnosticsUrl + path)).status, 200);
    const metrics = await (await fetch(cp.diagnosticsUrl + '/metrics')).text();
    assert.match(metrics, /http_requests_total\{method="PUT",route="\/meshes\/:mesh\/dataplanes\/:name",status_code="201"\} 2/);
    assert.match(metrics, /store_operation_duration_seconds_count\{operation="create",type="Dataplane"\}/);
  });
});

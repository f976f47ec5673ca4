import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildApiApp } from '../../src/api/app.js';
import { UserTokens } from '../../src/auth/user-tokens.js';
import { DataplaneTokens } from '../../src/auth/dataplane-tokens.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/observability/metrics.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { buildApi } from '../helpers/api.js';

type Json = Record<string, unknown>;
const JSON_HEADERS = { 'content-type': 'application/json' };

function strip(body: Json): Json {
  const { creationTime: _c, modificationTime: _m, ...rest } = body;
  return rest;
}

describe('resource API', () => {
  it('accepts YAML bodies and answers the same resource as JSON', async (t) => {
    const { app } = await buildApi(t);
    const yaml = 'type: Dataplane\nmesh: default\nname: redis-1\nnetworking:\n  inbound:\n  - interface: 127.0.0.1:9000:6379\n    tags:\n      service: redis\n';
    const put = await app.inject({ method: 'PUT', url: '/meshes/default/dataplanes/redis-1', payload: yaml, headers: { 'content-type': 'application/yaml' } });
    assert.equal(put.statusCode, 201);
    assert.deepEqual(put.json(), {});
    const got = await app.inject({ method: 'GET', url: '/meshes/default/dataplanes/redis-1' });
    assert.deepEqual(strip(got.json()), {
      type: 'Dataplane',
      mesh: 'default',
      name: 'redis-1',
      networking: { inbound: [{ interface: '127.0.0.1:9000:6379', tags: { service: 'redis' } }] },
    });
  });

  it('echoes each Dataplane and Mesh form exactly as it was given', async (t) => {
    const { app } = await buildApi(t);
    const current = {
      networking: {
        address: '192.168.0.2',
        inbound: [{ port: 9000, servicePort: 6379, tags: { 'kuma.io/service': 'redis', 'kuma.io/protocol': 'tcp' } }],
        outbound: [{ port: 10000, tags: { 'kuma.io/service': 'backend' } }],
      },
    };
    const legacyMesh = { mtls: { enabled: true, ca: { builtin: {} } } };
    const currentMesh = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', dpCert: { rotation: { expiration: '24h' } } }] } };
    for (const [url, body] of [
      ['/meshes/default/dataplanes/redis-2', current],
      ['/meshes/legacy', legacyMesh],
      ['/meshes/current', currentMesh],
    ] as const) {
      const put = await app.inject({ method: 'PUT', url, payload: body, headers: JSON_HEADERS });
      assert.equal(put.statusCode, 201, put.body);
      const got = strip((await app.inject({ method: 'GET', url })).json());
      const { type: _t, mesh: _m, name: _n, ...spec } = got;
      assert.deepEqual(spec, body);
    }
  });

  it('pages lists with total and a next link that keeps the filters, to the end', async (t) => {
    const { app, store } = await buildApi(t);
    const adminSecret = await store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' });
    const admin = Buffer.from(String(adminSecret!.spec.data), 'base64').toString();
    for (let i = 0; i < 7; i++) {
      const body = { networking: { inbound: [{ interface: `127.0.0.1:${9000 + i}:80`, tags: { service: i < 5 ? 'web' : 'db' } }] } };
      await app.inject({ method: 'PUT', url: `/meshes/default/dataplanes/${i < 5 ? 'web' : 'db'}-${i}`, payload: body, headers: JSON_HEADERS });
    }
    const names: string[] = [];
    let url: string | null = '/meshes/default/dataplanes?name=web&size=2';
    let pages = 0;
    while (url) {
      const response = await app.inject({ method: 'GET', url, headers: { host: 'cp.example:5681', authorization: `Bearer ${admin}` } });
      const body = response.json() as { total: number; items: Json[]; next: string | null };
      assert.equal(body.total, 5);
      names.push(...body.items.map((i) => String(i.name)));
      pages++;
      if (body.next) {
        const next = new URL(body.next);
        assert.equal(next.host, 'cp.example:5681');
        assert.equal(next.searchParams.get('name'), 'web');
        url = next.pathname + next.search;
      } else url = null;
    }
    assert.equal(pages, 3);
    assert.deepEqual(names, ['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
  });

  it('filters dataplanes by tag, across both spellings of the service tag', async (t) => {
    const { app } = await buildApi(t);
    const put = (name: string, tags: Json) =>
      app.inject({ method: 'PUT', url: `/meshes/default/dataplanes/${name}`, payload: { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags }] } }, headers: JSON_HEADERS });
    await put('a', { 'kuma.io/service': 'web', version: 'v1' });
    await put('b', { service: 'web', version: 'v2' });
    await put('c', { 'kuma.io/service': 'db', version: 'v1' });
    const names = async (query: string) =>
      ((await app.inject({ method: 'GET', url: `/meshes/default/dataplanes?${query}` })).json() as { items: Json[] }).items.map((i) => i.name);
    assert.deepEqual(await names('tag=kuma.io/service:web'), ['a', 'b']);
    assert.deepEqual(await names('tag=version:v1'), ['a', 'c']);
    assert.deepEqual(await names('tag=kuma.io/service:web&tag=version:v1'), ['a']);
    assert.deepEqual(await names('tag=version:*'), ['a', 'b', 'c']);
  });

  it('lists a mesh-scoped type across all meshes at /{plural}', async (t) => {
    const { app } = await buildApi(t);
    await app.inject({ method: 'PUT', url: '/meshes/other', payload: {}, headers: JSON_HEADERS });
    const body = { sources: [{ match: { service: '*' } }], destinations: [{ match: { service: '*' } }] };
    await app.inject({ method: 'PUT', url: '/meshes/default/traffic-permissions/allow-all', payload: body, headers: JSON_HEADERS });
    await app.inject({ method: 'PUT', url: '/meshes/other/traffic-permissions/allow-all', payload: body, headers: JSON_HEADERS });
    const list = (await app.inject({ method: 'GET', url: '/traffic-permissions' })).json() as { total: number; items: Json[] };
    assert.equal(list.total, 2);
    assert.deepEqual(list.items.map((i) => i.mesh), ['default', 'other']);
  });

  it('manages mesh secrets and global secrets', async (t) => {
    const { app } = await buildApi(t);
    assert.equal((await app.inject({ method: 'PUT', url: '/meshes/default/secrets/s-1', payload: { type: 'Secret', data: 'dGVzdAo=' }, headers: JSON_HEADERS })).statusCode, 201);
    assert.equal((await app.inject({ method: 'PUT', url: '/global-secrets/g-1', payload: { type: 'GlobalSecret', name: 'g-1', data: 'dGVzdAo=' }, headers: JSON_HEADERS })).statusCode, 201);
    assert.deepEqual(strip((await app.inject({ method: 'GET', url: '/global-secrets/g-1' })).json()), { type: 'GlobalSecret', name: 'g-1', data: 'dGVzdAo=' });
    assert.deepEqual(strip((await app.inject({ method: 'GET', url: '/meshes/default/secrets/s-1' })).json()), { type: 'Secret', mesh: 'default', name: 's-1', data: 'dGVzdAo=' });
    assert.equal((await app.inject({ method: 'DELETE', url: '/global-secrets/g-1' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/global-secrets/g-1' })).statusCode, 404);
  });

  it('accepts a trailing slash on collections, as Kuma does', async (t) => {
    const { app } = await buildApi(t);
    assert.equal((await app.inject({ method: 'GET', url: '/meshes/' })).statusCode, 200);
  });

  it('answers 405 to writes when apiServer.readOnly is set, and still serves reads', async (t) => {
    const { app } = await buildApi(t, { KUMA_API_SERVER_READ_ONLY: 'true' });
    const put = await app.inject({ method: 'PUT', url: '/meshes/m-1', payload: {}, headers: JSON_HEADERS });
    assert.equal(put.statusCode, 405);
    assert.equal(put.json().title, 'Method Not Allowed');
    assert.equal((await app.inject({ method: 'DELETE', url: '/meshes/default' })).statusCode, 405);
    assert.equal((await app.inject({ method: 'GET', url: '/meshes/default' })).statusCode, 200);
  });

  it('never writes secret values to the log, even at debug level and on errors', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { config } = loadConfig({ env: { KUMA_STORE_TYPE: 'memory', KUMA_STORE_POSTGRES_PASSWORD: 'pg-password-xyz' } });
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    const userTokens = new UserTokens(store, config.apiServer.authn.tokens);
    await userTokens.bootstrap();
    const app = await buildApiApp({ config, store, userTokens, dataplaneTokens: new DataplaneTokens(store), logger: pino({ level: 'debug' }, sink), metrics: new Metrics(), version: 't', instanceId: 'i', hostname: 'h' });
    t.after(() => app.close());
    const secret = Buffer.from('top-secret-value').toString('base64');
    await app.inject({ method: 'PUT', url: '/meshes/default/secrets/s-1', payload: { data: secret }, headers: JSON_HEADERS });
    await app.inject({ method: 'PUT', url: '/meshes/default/secrets/s-2', payload: { data: 'not base64: top-secret-raw' }, headers: JSON_HEADERS });
    await app.inject({ method: 'PUT', url: '/meshes/default/secrets/s-3', payload: `{"data": "${secret}", broken`, headers: JSON_HEADERS });
    await app.inject({ method: 'GET', url: '/meshes/default/secrets/s-1' });
    await app.inject({ method: 'GET', url: '/config' });
    const log = lines.join('');
    assert.ok(lines.length >= 4, 'debug request lines were logged');
    for (const value of [secret, 'top-secret-raw', 'pg-password-xyz']) assert.ok(!log.includes(value), `log contains ${value}`);
  });
});

describe('GET /meshes/{mesh}/dataplanes/{name}/policies', () => {
  it('lists the policies the dataplane’s configuration uses, and where they attach', async (t) => {
    const { app } = await buildApi(t);
    const put = async (url: string, body: unknown) => assert.ok([200, 201].includes((await app.inject({ method: 'PUT', url, payload: body as object })).statusCode), url);
    await put('/meshes/default/dataplanes/web-1', { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web', version: 'v1' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }, { port: 10002, tags: { 'kuma.io/service': 'db' } }] } });
    const any = [{ match: { 'kuma.io/service': '*' } }];
    await put('/meshes/default/traffic-routes/all', { type: 'TrafficRoute', mesh: 'default', name: 'all', sources: any, destinations: any, conf: { destination: { 'kuma.io/service': '*' } } });
    await put('/meshes/default/traffic-routes/web-to-backend', { type: 'TrafficRoute', mesh: 'default', name: 'web-to-backend', sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }], conf: { split: [{ weight: 100, destination: { 'kuma.io/service': 'backend' } }] } });
    await put('/meshes/default/traffic-permissions/to-web', { type: 'TrafficPermission', mesh: 'default', name: 'to-web', sources: any, destinations: [{ match: { 'kuma.io/service': 'web' } }] });
    await put('/meshes/default/traffic-permissions/to-db', { type: 'TrafficPermission', mesh: 'default', name: 'to-db', sources: any, destinations: [{ match: { 'kuma.io/service': 'db' } }] });
    const r = await app.inject({ method: 'GET', url: '/meshes/default/dataplanes/web-1/policies' });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), {
      total: 3,
      items: [
        { type: 'TrafficRoute', name: 'web-to-backend', attachment: { type: 'outbound', service: 'backend' } },
        { type: 'TrafficRoute', name: 'all', attachment: { type: 'outbound', service: 'db' } },
        { type: 'TrafficPermission', name: 'to-web', attachment: { type: 'inbound', service: 'web' } },
      ],
    });
    assert.equal((await app.inject({ method: 'GET', url: '/meshes/default/dataplanes/nope/policies' })).statusCode, 404);
  });
});

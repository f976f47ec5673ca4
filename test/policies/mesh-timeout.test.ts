import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { normalizeDataplane } from '../../src/core/resources/dataplane.js';
import { inboundConf, outboundConf, parsePolicy } from '../../src/policies/policy.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { send as sendJson, withSkiffctl } from '../helpers/skiffctl.js';

const policy = (name: string, spec: Record<string, unknown>) => ({ type: 'MeshTimeout', mesh: 'default', name, spec });

describe('MeshTimeout over the REST API', () => {
  let cp: TestControlPlane;
  before(async () => {
    cp = await startTestControlPlane(undefined);
  });
  after(() => cp.cp.close());

  const send = (method: string, path: string, body?: unknown) => sendJson(cp.api, method, path, body);

  it('round-trips in Kuma’s Universal form under /meshes/{mesh}/meshtimeouts', async () => {
    const body = { ...policy('timeouts', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: '2s', http: { requestTimeout: '5s' } } }] }), labels: { team: 'core' } };
    assert.equal((await send('PUT', '/meshes/default/meshtimeouts/timeouts', body)).status, 201);
    const read = await send('GET', '/meshes/default/meshtimeouts/timeouts');
    assert.equal(read.status, 200);
    assert.deepEqual({ type: read.json.type, mesh: read.json.mesh, name: read.json.name, labels: read.json.labels, spec: read.json.spec }, body);
    const list = await send('GET', '/meshes/default/meshtimeouts');
    // Beside Kuma's two default MeshTimeouts of the mesh.
    assert.deepEqual(list.json.items.map((i: { name: string }) => i.name).sort(), ['mesh-gateways-timeout-all-default', 'mesh-timeout-all-default', 'timeouts']);
    // The dataplane's policies view lists it where it attaches.
    const web = { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } };
    assert.equal((await send('PUT', '/meshes/default/dataplanes/web-1', web)).status, 201);
    const matched = await send('GET', '/meshes/default/dataplanes/web-1/policies');
    assert.equal(matched.status, 200, JSON.stringify(matched.json));
    assert.ok(JSON.stringify(matched.json).includes('"MeshTimeout"'), JSON.stringify(matched.json));
    assert.equal((await send('DELETE', '/meshes/default/meshtimeouts/timeouts')).status, 200);
    assert.equal((await send('GET', '/meshes/default/meshtimeouts/timeouts')).status, 404);
  });

  it('is applied and read back with skiffctl', async () => {
    await withSkiffctl(cp.api, async (skiffctl) => {
      const yaml = 'type: MeshTimeout\nmesh: default\nname: from-skiffctl\nspec:\n  targetRef: {kind: Mesh}\n  to:\n    - targetRef: {kind: Mesh}\n      default: {idleTimeout: 20s}\n';
      const applied = await skiffctl(['apply', '-f', '-'], yaml);
      assert.equal(applied.code, 0, applied.stderr);
      const got = await skiffctl(['get', 'meshtimeout', 'from-skiffctl', '-o', 'json']);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(JSON.parse(got.stdout).spec.to[0].default.idleTimeout, '20s');
      const bad = await skiffctl(['apply', '-f', '-'], yaml.replace('20s', 'twenty'));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /spec\.to\[0\]\.default\.idleTimeout/);
      assert.equal((await skiffctl(['delete', 'meshtimeout', 'from-skiffctl'])).code, 0);
    });
  });

  it('refuses what Kuma refuses, each cause with its field path', async () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['no to, from or rules', { targetRef: { kind: 'Mesh' } }, 'spec', /at least one of 'from', 'to' or 'rules' has to be defined/],
      ['rules with to', { rules: [{ default: { idleTimeout: '1s' } }], to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1s' } }] }, 'spec', /must be empty when 'rules' is defined/],
      ['an unknown kind', { targetRef: { kind: 'Everything' }, rules: [{ default: { idleTimeout: '1s' } }] }, 'spec.targetRef.kind', /value is not supported/],
      ['a kind Skiff does not serve yet', { targetRef: { kind: 'MeshHTTPRoute', name: 'r' }, rules: [{ default: { idleTimeout: '1s' } }] }, 'spec.targetRef.kind', /MeshHTTPRoute is not supported by Skiff yet/],
      ['MeshService without a name', { targetRef: { kind: 'MeshService' }, rules: [{ default: { idleTimeout: '1s' } }] }, 'spec.targetRef.name', /must be set with kind MeshService/],
      ['Mesh with tags', { targetRef: { kind: 'Mesh', tags: { a: 'b' } }, rules: [{ default: { idleTimeout: '1s' } }] }, 'spec.targetRef.tags', /must not be set with kind Mesh/],
      ['an empty default', { to: [{ targetRef: { kind: 'Mesh' }, default: {} }] }, 'spec.to[0].default', /at least one timeout should be configured/],
      ['an empty http section', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: {} } }] }, 'spec.to[0].default.http', /at least one timeout in this section should be configured/],
      ['a bad duration', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimeout: 'ten' } } }] }, 'spec.to[0].default.http.requestTimeout', /must be a duration/],
      ['a misspelt field', { to: [{ targetRef: { kind: 'Mesh' }, default: { connectTimeout: '1s' } }] }, 'spec.to[0].default.connectTimeout', /unknown field/],
      ['from a service (only Mesh)', { from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { idleTimeout: '1s' } }] }, 'spec.from[0].targetRef.kind', /supported values here: Mesh/],
      ['to without targetRef', { to: [{ default: { idleTimeout: '1s' } }] }, 'spec.to[0].targetRef', /must be defined/],
    ];
    for (const [what, spec, field, message] of cases) {
      const r = await send('PUT', '/meshes/default/meshtimeouts/bad', policy('bad', spec));
      assert.equal(r.status, 400, what);
      const cause = (r.json.causes as Array<{ field: string; message: string }>).find((c) => c.field === field);
      assert.ok(cause, `${what}: a cause at ${field}, got ${JSON.stringify(r.json.causes)}`);
      assert.match(cause.message, message, what);
    }
    const missingSpec = await send('PUT', '/meshes/default/meshtimeouts/bad', { type: 'MeshTimeout', name: 'bad', mesh: 'default' });
    assert.equal(missingSpec.status, 400);
    assert.ok((missingSpec.json.causes as Array<{ field: string }>).some((c) => c.field === 'spec'));
  });
});

describe('MeshTimeout merge (Kuma’s order: Mesh < MeshSubset < MeshService < MeshServiceSubset < Dataplane, then name)', () => {
  const web = normalizeDataplane({ networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web', version: 'v2' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } });
  const mt = (name: string, targetRef: Record<string, unknown>, to: Array<[Record<string, unknown>, Record<string, unknown>]>, rules: Array<Record<string, unknown>> = []) =>
    parsePolicy('MeshTimeout', name, { spec: { targetRef, to: to.map(([t, d]) => ({ targetRef: t, default: d })), rules: rules.map((d) => ({ default: d })) } });
  const policies = [
    mt('z-dataplane', { kind: 'Dataplane', name: 'web-1' }, [[{ kind: 'Mesh' }, { http: { requestTimeout: '4s' } }]]),
    mt('b-subset', { kind: 'MeshSubset', tags: { version: 'v2' } }, [[{ kind: 'Mesh' }, { connectionTimeout: '2s', http: { requestTimeout: '2s', streamIdleTimeout: '2m' } }]]),
    mt('a-mesh', { kind: 'Mesh' }, [[{ kind: 'MeshService', name: 'backend' }, { connectionTimeout: '1s', idleTimeout: '1m' }], [{ kind: 'Mesh' }, { connectionTimeout: '9s' }]], [{ idleTimeout: '3m' }]),
    mt('c-service', { kind: 'MeshService', name: 'web' }, [[{ kind: 'MeshService', name: 'backend' }, { http: { requestTimeout: '3s' } }]]),
    mt('other-service', { kind: 'MeshService', name: 'api' }, [[{ kind: 'Mesh' }, { connectionTimeout: '7s' }]], [{ idleTimeout: '7s' }]),
  ];

  it('merges field by field, the more specific policy and entry last', () => {
    assert.deepEqual(outboundConf(policies, 'web-1', web, 'backend'), {
      // a-mesh's Mesh entry (9s) then its MeshService entry (1s, idle 1m), b-subset (2s), c-service, z-dataplane.
      connectionTimeout: '2s',
      idleTimeout: '1m',
      http: { requestTimeout: '4s', streamIdleTimeout: '2m' },
    });
    // Another dataplane of web: z-dataplane does not select it, so c-service's 3s stays.
    assert.deepEqual(outboundConf(policies, 'web-2', web, 'backend')?.http, { requestTimeout: '3s', streamIdleTimeout: '2m' });
    // An outbound no MeshService entry names gets the Mesh entries only.
    assert.deepEqual(outboundConf(policies, 'web-2', web, 'db'), { connectionTimeout: '2s', http: { requestTimeout: '2s', streamIdleTimeout: '2m' } });
    assert.deepEqual(inboundConf(policies, 'web-1', web), { idleTimeout: '3m' });
    assert.equal(inboundConf(policies.filter((p) => p.name !== 'a-mesh'), 'web-1', web), undefined, 'no rules selecting web: no inbound change');
  });

  it('orders policies of one level as Kuma does: the lexicographically smaller name merges last and wins', () => {
    const b = mt('b-timeouts', { kind: 'Mesh' }, [[{ kind: 'Mesh' }, { connectionTimeout: '2s', idleTimeout: '2m' }]]);
    const a = mt('a-timeouts', { kind: 'Mesh' }, [[{ kind: 'Mesh' }, { connectionTimeout: '1s' }]]);
    assert.deepEqual(outboundConf([a, b], 'web-1', web, 'backend'), { connectionTimeout: '1s', idleTimeout: '2m' });
    assert.deepEqual(outboundConf([b, a], 'web-1', web, 'backend'), { connectionTimeout: '1s', idleTimeout: '2m' });
    // A Dataplane ref by name is more specific than one by labels, whatever the names.
    const byLabels = mt('a-labels', { kind: 'Dataplane', labels: { team: 'web' } }, [[{ kind: 'Mesh' }, { connectionTimeout: '3s' }]]);
    const byName = mt('z-name', { kind: 'Dataplane', name: 'web-1' }, [[{ kind: 'Mesh' }, { connectionTimeout: '4s' }]]);
    const labelled = normalizeDataplane({ labels: { team: 'web' }, networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } });
    assert.equal(outboundConf([byName, byLabels], 'web-1', labelled, 'backend')?.connectionTimeout, '4s');
  });

  it('takes the entries of one policy in the order written: a later Mesh entry overrides an earlier MeshService one', () => {
    const serviceFirst = mt('one', { kind: 'Mesh' }, [[{ kind: 'MeshService', name: 'backend' }, { connectionTimeout: '1s' }], [{ kind: 'Mesh' }, { connectionTimeout: '9s' }]]);
    const meshFirst = mt('one', { kind: 'Mesh' }, [[{ kind: 'Mesh' }, { connectionTimeout: '9s' }], [{ kind: 'MeshService', name: 'backend' }, { connectionTimeout: '1s' }]]);
    assert.equal(outboundConf([serviceFirst], 'web-1', web, 'backend')?.connectionTimeout, '9s');
    assert.equal(outboundConf([meshFirst], 'web-1', web, 'backend')?.connectionTimeout, '1s');
  });
});

// A real proxyless client: the route's max_stream_duration from MeshTimeout is the RPC's deadline.
const raw = (b: Buffer) => b;
const SLOW: grpc.ServiceDefinition = {
  call: { path: '/skiff.test.Slow/Call', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
type SlowClient = grpc.Client & { call: (req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };

describe('MeshTimeout with a real proxyless gRPC client (@grpc/grpc-js-xds)', () => {
  let cp: TestControlPlane;
  let server: grpc.Server;
  let client: SlowClient;

  before(async () => {
    cp = await startTestControlPlane(undefined);
    server = new grpc.Server();
    // Answers after 400 ms.
    server.addService(SLOW, { call: (_c: unknown, done: grpc.sendUnaryData<Buffer>) => setTimeout(() => done(null, Buffer.from('slow')), 400) });
    const port = await new Promise<number>((done, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : done(p))));
    assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', { networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'grpc' } }] } }), 201);
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', { networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'client' } }] } }), 201);
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'default.client-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
    });
    grpcXds.register();
    const Client = grpc.makeGenericClientConstructor(SLOW, 'Slow');
    client = new Client('xds:///backend', grpc.credentials.createInsecure()) as unknown as SlowClient;
  });

  after(async () => {
    client?.close();
    server?.forceShutdown();
    await cp?.cp.close();
  });

  const call = () => new Promise<string | grpc.ServiceError>((done) => client.call(Buffer.alloc(0), { deadline: Date.now() + 5000 }, (err, res) => done(err ?? res!.toString())));

  it('cuts an RPC slower than http.requestTimeout with DEADLINE_EXCEEDED, and lets it through once the timeout is raised', async () => {
    assert.equal(await call(), 'slow', 'without a MeshTimeout the 400 ms call completes');
    const timeout = (requestTimeout: string) => policy('backend-deadline', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { http: { requestTimeout } } }] });
    assert.equal(await cp.put('/meshes/default/meshtimeouts/backend-deadline', timeout('150ms')), 201);
    let outcome: string | grpc.ServiceError = 'slow';
    const deadline = Date.now() + 5000;
    while (typeof outcome === 'string' && Date.now() < deadline) outcome = await call();
    assert.ok(typeof outcome !== 'string', 'the MeshTimeout reached the client');
    assert.equal(outcome.code, grpc.status.DEADLINE_EXCEEDED);
    const started = Date.now();
    const again = await call();
    assert.ok(typeof again !== 'string' && again.code === grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 350, `cut at about 150 ms, not after the full 400 ms (${Date.now() - started} ms)`);

    assert.equal(await cp.put('/meshes/default/meshtimeouts/backend-deadline', timeout('2s')), 200);
    let later: string | grpc.ServiceError = outcome;
    const until = Date.now() + 5000;
    while (typeof later !== 'string' && Date.now() < until) later = await call();
    assert.equal(later, 'slow');
  });
});

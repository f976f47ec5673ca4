import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

/**
 * Kuma 2.x policies with a real proxyless gRPC client (@grpc/grpc-js-xds) making real RPCs to real
 * servers, in a mesh created without Kuma's default policies (so each behaviour is the policy's):
 * MeshHTTPRoute routes by header, MeshRetry retries a backend that fails every other call,
 * MeshFaultInjection aborts calls before they leave the client.
 */
const raw = (b: Buffer) => b;
const ECHO: grpc.ServiceDefinition = {
  call: { path: '/skiff.test.Echo/Call', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
type EchoClient = grpc.Client & { call: (req: Buffer, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };

async function server(answer: (n: number) => grpc.ServiceError | string): Promise<{ port: number; calls: () => number; close: () => void }> {
  const s = new grpc.Server();
  let calls = 0;
  s.addService(ECHO, {
    call: (_c: unknown, done: grpc.sendUnaryData<Buffer>) => {
      const a = answer(++calls);
      if (typeof a === 'string') done(null, Buffer.from(a));
      else done(a);
    },
  });
  const port = await new Promise<number>((ok, fail) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return { port, calls: () => calls, close: () => s.forceShutdown() };
}

const MESH = 'clean';
const unavailable = (): grpc.ServiceError => Object.assign(new Error('flaky'), { code: grpc.status.UNAVAILABLE, details: 'flaky', metadata: new grpc.Metadata() });

describe('Kuma 2.x policies with a real proxyless gRPC client (@grpc/grpc-js-xds)', () => {
  let cp: TestControlPlane;
  const servers: Array<{ close: () => void }> = [];
  let flaky: Awaited<ReturnType<typeof server>>;
  let echo: EchoClient;
  let flakyClient: EchoClient;

  before(async () => {
    cp = await startTestControlPlane(undefined);
    assert.equal(await cp.put(`/meshes/${MESH}`, { skipCreatingInitialPolicies: ['*'] }), 201);
    const v1 = await server(() => 'v1');
    const v2 = await server(() => 'v2');
    flaky = await server((n) => (n % 2 === 0 ? unavailable() : 'ok'));
    servers.push(v1, v2, flaky);
    const dp = (port: number, service: string, tags: Record<string, string> = {}) => ({ networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'grpc', ...tags } }] } });
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/echo-v1`, dp(v1.port, 'echo', { version: 'v1' })), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/echo-v2`, dp(v2.port, 'echo', { version: 'v2' })), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/flaky-1`, dp(flaky.port, 'flaky')), 201);
    assert.equal(await cp.put(`/meshes/${MESH}/dataplanes/client-1`, { networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'client' } }] } }), 201);
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: `${MESH}.client-1`, locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
    });
    grpcXds.register();
    const Client = grpc.makeGenericClientConstructor(ECHO, 'Echo');
    echo = new Client('xds:///echo', grpc.credentials.createInsecure()) as unknown as EchoClient;
    flakyClient = new Client('xds:///flaky', grpc.credentials.createInsecure()) as unknown as EchoClient;
  });

  after(async () => {
    echo?.close();
    flakyClient?.close();
    for (const s of servers) s.close();
    await cp?.cp.close();
  });

  const call = (client: EchoClient, headers: Record<string, string> = {}) =>
    new Promise<string | grpc.ServiceError>((done) => {
      const meta = new grpc.Metadata();
      for (const [k, v] of Object.entries(headers)) meta.set(k, v);
      client.call(Buffer.alloc(0), meta, { deadline: Date.now() + 5000 }, (err, res) => done(err ?? res!.toString()));
    });
  const calls = async (n: number, client: EchoClient, headers?: Record<string, string>) => {
    const out: Array<string | grpc.ServiceError> = [];
    for (let i = 0; i < n; i++) out.push(await call(client, headers));
    return out;
  };
  /** Calls until `done` holds for a batch (the change reached the client), at most 10 s. */
  async function until(what: string, batch: () => Promise<Array<string | grpc.ServiceError>>, done: (answers: Array<string | grpc.ServiceError>) => boolean) {
    const deadline = Date.now() + 10_000;
    let last: Array<string | grpc.ServiceError> = [];
    while (Date.now() < deadline) {
      last = await batch();
      if (done(last)) return last;
      // A call the client fails itself (an injected abort) settles without I/O: let the xDS
      // stream's messages in between batches, or the update being waited for never arrives.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail(`${what}: last answers ${JSON.stringify(last.map((a) => (typeof a === 'string' ? a : `status ${a.code}`)))}`);
  }
  const policy = (type: string, name: string, spec: Record<string, unknown>) => ({ type, mesh: MESH, name, spec });

  it('creates no default policies in a mesh that skips them', async () => {
    for (const plural of ['meshtimeouts', 'meshretries', 'meshcircuitbreakers']) {
      const list = (await (await fetch(`${cp.api}/meshes/${MESH}/${plural}`)).json()) as { total: number };
      assert.equal(list.total, 0, plural);
    }
    const defaults = (await (await fetch(`${cp.api}/meshes/default/meshretries`)).json()) as { items: Array<{ name: string }> };
    assert.deepEqual(defaults.items.map((i) => i.name), ['mesh-retry-all-default'], 'the default mesh has Kuma’s');
  });

  it('routes by header with MeshHTTPRoute: x-version: v2 callers reach v2 only, the others v1 only', async () => {
    const both = await calls(20, echo);
    assert.ok(both.includes('v1') && both.includes('v2'), 'without a route both subsets answer');
    const route = policy('MeshHTTPRoute', 'by-version', {
      targetRef: { kind: 'Mesh' },
      to: [
        {
          targetRef: { kind: 'MeshService', name: 'echo' },
          rules: [
            // Kuma orders routes by match: a path beats no path, then more headers win; so the
            // header rule names the path too.
            { matches: [{ path: { type: 'PathPrefix', value: '/skiff.test.Echo' }, headers: [{ name: 'x-version', value: 'v2' }] }], default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'echo', tags: { version: 'v2' } }] } },
            { matches: [{ path: { type: 'PathPrefix', value: '/skiff.test.Echo' } }], default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'echo', tags: { version: 'v1' } }] } },
          ],
        },
      ],
    });
    assert.equal(await cp.put(`/meshes/${MESH}/meshhttproutes/by-version`, route), 201);
    await until('plain calls go to v1', () => calls(10, echo), (a) => a.every((x) => x === 'v1'));
    assert.deepEqual(new Set(await calls(20, echo, { 'x-version': 'v2' })), new Set(['v2']));
    assert.deepEqual(new Set(await calls(20, echo)), new Set(['v1']));
    assert.equal(await cp.del(`/meshes/${MESH}/meshhttproutes/by-version`), 200);
    await until('both subsets again once the route is gone', () => calls(20, echo), (a) => a.includes('v1') && a.includes('v2'));
  });

  it('retries with MeshRetry: a backend failing every other call with UNAVAILABLE fails no call', async () => {
    const before = await calls(20, flakyClient);
    assert.ok(before.filter((a) => typeof a !== 'string').length >= 8, 'without retries about half fail');
    const retry = policy('MeshRetry', 'flaky', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'flaky' }, default: { grpc: { numRetries: 3, retryOn: ['Unavailable'], backOff: { baseInterval: '10ms', maxInterval: '20ms' } } } }] });
    assert.equal(await cp.put(`/meshes/${MESH}/meshretries/flaky`, retry), 201);
    await until('retries reach the client', () => calls(10, flakyClient), (a) => a.every((x) => x === 'ok'));
    const served = flaky.calls();
    const answers = await calls(20, flakyClient);
    assert.deepEqual(new Set(answers), new Set(['ok']), 'every call succeeds');
    assert.ok(flaky.calls() - served >= 29, `the failed attempts were retried (${flaky.calls() - served} attempts for 20 calls)`);
    assert.equal(await cp.del(`/meshes/${MESH}/meshretries/flaky`), 200);
    await until('failures come back once the retry is gone', () => calls(10, flakyClient), (a) => a.some((x) => typeof x !== 'string'));
  });

  it('aborts with MeshFaultInjection: every call fails UNAVAILABLE (HTTP 503) before reaching the server, and passes once removed', async () => {
    const fault = policy('MeshFaultInjection', 'abort-echo', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'echo' }, default: { http: [{ abort: { httpStatus: 503, percentage: 100 } }] } }] });
    assert.equal(await cp.put(`/meshes/${MESH}/meshfaultinjections/abort-echo`, fault), 201);
    const aborted = await until('the abort reaches the client', () => calls(5, echo), (a) => a.every((x) => typeof x !== 'string'));
    assert.ok(aborted.every((a) => typeof a !== 'string' && a.code === grpc.status.UNAVAILABLE), 'HTTP 503 is gRPC UNAVAILABLE');
    assert.equal(await cp.del(`/meshes/${MESH}/meshfaultinjections/abort-echo`), 200);
    await until('calls pass again', () => calls(5, echo), (a) => a.every((x) => typeof x === 'string'));
  });
});

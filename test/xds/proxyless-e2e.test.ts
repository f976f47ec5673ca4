import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import type { ControlPlane } from '../../src/server.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

/**
 * The real, independent xDS client: @grpc/grpc-js-xds resolves `xds:///backend` through Skiff's
 * ADS server and load-balances real RPCs over the endpoints Skiff gives it. Registration and
 * deletion over REST must reach it without restarting the client.
 */

// A tiny service with raw-bytes messages, so no proto is needed for the test backends.
const identity = (b: Buffer) => b;
const WHO_SERVICE: grpc.ServiceDefinition = {
  who: {
    path: '/skiff.test.Echo/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

async function startBackend(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(WHO_SERVICE, { who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)) });
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : done(p))),
  );
  return { port, server };
}

const backendDataplane = (port: number) => ({
  type: 'Dataplane',
  networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'grpc' } }] },
});

describe('proxyless gRPC client (@grpc/grpc-js-xds) against Skiff', () => {
  let cp: ControlPlane;
  let backends: Array<{ port: number; server: grpc.Server }>;
  let client: grpc.Client & { who: (req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };
  let api: string;

  const put = (path: string, body: unknown) =>
    fetch(api + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);

  const who = () =>
    new Promise<string>((done, fail) =>
      client.who(Buffer.alloc(0), { deadline: Date.now() + 2000 }, (err, res) => (err ? fail(err) : done(res!.toString()))),
    );

  /** Calls until `predicate` holds for a window of `window` consecutive answers; returns the ms it took. */
  async function until(predicate: (answers: string[]) => boolean, window: number, timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      const answers: string[] = [];
      for (let i = 0; i < window; i++) answers.push(await who());
      if (predicate(answers)) return Date.now() - started;
    }
    throw new Error(`condition not met within ${timeoutMs} ms`);
  }

  before(async () => {
    // Real dataplane-token enforcement: a proxyless client can only carry its token in node metadata.
    cp = (await startTestControlPlane(undefined, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' })).cp;
    api = `http://127.0.0.1:${cp.apiPort}`;
    backends = [await startBackend('backend-1'), await startBackend('backend-2')];
    assert.equal(await put('/meshes/default/dataplanes/backend-1', backendDataplane(backends[0]!.port)), 201);
    assert.equal(await put('/meshes/default/dataplanes/backend-2', backendDataplane(backends[1]!.port)), 201);
    assert.equal(
      await put('/meshes/default/dataplanes/client-1', { networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'client' } }] } }),
      201,
    );

    const tokenResponse = await fetch(`${api}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'client-1', mesh: 'default' }) });
    assert.equal(tokenResponse.status, 200);
    const token = await tokenResponse.text();
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${cp.xds.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'default.client-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc', 'dataplane.token': token } },
    });
    grpcXds.register();
    const Client = grpc.makeGenericClientConstructor(WHO_SERVICE, 'Echo');
    client = new Client('xds:///backend', grpc.credentials.createInsecure()) as unknown as typeof client;
  });

  after(async () => {
    client?.close();
    for (const b of backends ?? []) b.server.forceShutdown();
    await cp?.close();
  });

  it('resolves xds:///backend and spreads real RPCs over both registered backends', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 40; i++) answers.push(await who());
    assert.deepEqual([...new Set(answers)].sort(), ['backend-1', 'backend-2']);
  });

  it('moves all traffic to the remaining backend within 2 s of a REST delete, and back when it returns', async () => {
    const deleted = await fetch(`${api}/meshes/default/dataplanes/backend-2`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    const movedMs = await until((a) => a.every((x) => x === 'backend-1'), 20, 5000);
    assert.ok(movedMs <= 2000, `traffic moved after ${movedMs} ms`);

    assert.equal(await put('/meshes/default/dataplanes/backend-2', backendDataplane(backends[1]!.port)), 201);
    const restoredMs = await until((a) => a.includes('backend-2') && a.includes('backend-1'), 20, 5000);
    assert.ok(restoredMs <= 2000, `traffic restored after ${restoredMs} ms`);
  });
});

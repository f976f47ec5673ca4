import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

/** A TrafficRoute steering real RPCs of a real xDS client (@grpc/grpc-js-xds) between versions. */
const identity = (b: Buffer) => b;
const WHO: grpc.ServiceDefinition = {
  who: { path: '/skiff.test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

async function backend(version: string) {
  const server = new grpc.Server();
  server.addService(WHO, { who: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(version)) });
  const port = await new Promise<number>((done, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : done(p))));
  return { server, port };
}

const route = (v1: number, v2: number) => ({
  sources: [{ match: { 'kuma.io/service': 'client' } }],
  destinations: [{ match: { 'kuma.io/service': 'backend' } }],
  conf: [
    { weight: v1, destination: { 'kuma.io/service': 'backend', version: 'v1' } },
    { weight: v2, destination: { 'kuma.io/service': 'backend', version: 'v2' } },
  ],
});

describe('TrafficRoute with a real xDS client', () => {
  let cp: TestControlPlane;
  let backends: Array<{ server: grpc.Server; port: number }>;
  let client: grpc.Client & { who: (req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };
  const who = () => new Promise<string>((done, fail) => client.who(Buffer.alloc(0), { deadline: Date.now() + 2000 }, (err, res) => (err ? fail(err) : done(res!.toString()))));

  before(async () => {
    cp = await startTestControlPlane(undefined);
    backends = [await backend('v1'), await backend('v2')];
    for (const [i, version] of ['v1', 'v2'].entries()) {
      const body = { networking: { address: '127.0.0.1', inbound: [{ port: backends[i]!.port, tags: { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'grpc', version } }] } };
      assert.equal(await cp.put(`/meshes/default/dataplanes/backend-${version}`, body), 201);
    }
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', { networking: { address: '127.0.0.1', inbound: [{ port: 1, tags: { 'kuma.io/service': 'client' } }] } }), 201);
    assert.equal(await cp.put('/meshes/default/traffic-routes/split', route(90, 10)), 201);
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'default.client-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
    });
    grpcXds.register();
    client = new (grpc.makeGenericClientConstructor(WHO, 'Echo'))('xds:///backend', grpc.credentials.createInsecure()) as unknown as typeof client;
  });

  after(async () => {
    client?.close();
    for (const b of backends ?? []) b.server.forceShutdown();
    await cp?.cp.close();
  });

  it('sends 90% ± 5% of 2,000 RPCs to v1 under a 90/10 route', async () => {
    const counts = { v1: 0, v2: 0 } as Record<string, number>;
    for (let i = 0; i < 2000; i++) counts[await who()]!++;
    assert.ok(counts.v1! >= 1700 && counts.v1! <= 1900, `v1 got ${counts.v1} of 2000`);
    assert.equal(counts.v1! + counts.v2!, 2000);
  });

  it('moves every new RPC to v2 within 2 s when the route becomes 0/100', async () => {
    assert.equal(await cp.put('/meshes/default/traffic-routes/split', route(0, 100)), 200);
    const started = Date.now();
    for (;;) {
      const window: string[] = [];
      for (let i = 0; i < 50; i++) window.push(await who());
      if (window.every((v) => v === 'v2')) break;
      assert.ok(Date.now() - started < 5000, 'traffic did not move');
    }
    assert.ok(Date.now() - started <= 2000, `moved after ${Date.now() - started} ms`);
  });
});

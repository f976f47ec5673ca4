import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { PROXYLESS_CERTIFICATE_PROVIDER } from '../../src/xds/generators/envoy.js';
import { PROXYLESS_SERVER_LISTENER_TEMPLATE } from '../../src/xds/generators/proxyless-server.js';
import { createConnection, createServer } from 'node:net';
import { meshIdentity } from '../helpers/mesh-identity.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

/**
 * Mesh mTLS for proxyless gRPC clients (gRPC's xDS security, A29): a real @grpc/grpc-js-xds client
 * takes its identity and trust from a `file_watcher` certificate provider of its bootstrap, as the
 * clusters Skiff sends it ask, and makes a mutually authenticated RPC to a backend holding the
 * backend service's mesh certificate. The certificates are fetched over SDS as an agent beside the
 * client would.
 */

const raw = (b: Buffer) => b;
const WHO: grpc.ServiceDefinition = {
  who: { path: '/skiff.test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
type WhoClient = grpc.Client & { who: (req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };

const MESH = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
const inboundDp = (port: number, service: string) => ({ networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'grpc' } }] } });

describe('proxyless gRPC client in an mTLS mesh (@grpc/grpc-js-xds, xDS security)', () => {
  let cp: TestControlPlane;
  let dir: string;
  const servers: grpc.Server[] = [];
  let client: WhoClient;

  async function startBackend(identity: { cert: string; key: string; ca: string }): Promise<number> {
    const server = new grpc.Server();
    // Answers with the caller's SPIFFE ID, which it can only know from a verified client certificate.
    server.addService(WHO, {
      who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const peer = call.getAuthContext().sslPeerCertificate;
        callback(null, Buffer.from(peer?.raw ? new X509Certificate(peer.raw).subjectAltName ?? '' : 'no client certificate'));
      },
    });
    const creds = grpc.ServerCredentials.createSsl(Buffer.from(identity.ca), [{ cert_chain: Buffer.from(identity.cert), private_key: Buffer.from(identity.key) }], true);
    const port = await new Promise<number>((done, fail) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? fail(err) : done(p))));
    servers.push(server);
    return port;
  }

  const who = (target: WhoClient) =>
    new Promise<string>((done, fail) => target.who(Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err, res) => (err ? fail(err) : done(res!.toString()))));

  before(async () => {
    cp = await startTestControlPlane(undefined);
    dir = mkdtempSync(join(tmpdir(), 'skiff-proxyless-mtls-'));
    assert.equal(await cp.put('/meshes/default', MESH), 200);
    // backend-1 holds the backend identity; impostor-1 serves "impostor" but with that same backend certificate.
    assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', inboundDp(1, 'backend')), 201);
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', inboundDp(2, 'client')), 201);
    const backendId = await meshIdentity(cp.xdsAddress, 'backend-1');
    const clientId = await meshIdentity(cp.xdsAddress, 'client-1');
    const backendPort = await startBackend(backendId);
    assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', inboundDp(backendPort, 'backend')), 200);
    assert.equal(await cp.put('/meshes/default/dataplanes/impostor-1', inboundDp(await startBackend(backendId), 'impostor')), 201);

    for (const [file, pem] of [['cert.pem', clientId.cert], ['key.pem', clientId.key], ['ca.pem', clientId.ca]] as const) writeFileSync(join(dir, file), pem, { mode: 0o600 });
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'default.client-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
      certificate_providers: {
        [PROXYLESS_CERTIFICATE_PROVIDER]: {
          plugin_name: 'file_watcher',
          config: { certificate_file: join(dir, 'cert.pem'), private_key_file: join(dir, 'key.pem'), ca_certificate_file: join(dir, 'ca.pem'), refresh_interval: '600s' },
        },
      },
    });
    grpcXds.register();
    const Client = grpc.makeGenericClientConstructor(WHO, 'Echo');
    client = new Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure())) as unknown as WhoClient;
  });

  after(async () => {
    client?.close();
    for (const server of servers) server.forceShutdown();
    await cp?.cp.close();
    rmSync(cp.workDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a mutually authenticated RPC: the client checks spiffe://default/backend and the backend sees spiffe://default/client', async () => {
    assert.equal(await who(client), 'URI:spiffe://default/client');
  });

  it('a proxyless server whose gRPC library cannot enforce TrafficPermission rejects its Listener and does not serve', async () => {
    // This process runs grpc-js-xds without GRPC_XDS_EXPERIMENTAL_RBAC: its XdsServer has no RBAC
    // filter, and the Listener's RBAC filter is not optional, so it must NACK rather than admit
    // every identity of the mesh (proxyless-server.test.ts has the library with RBAC).
    const port = await new Promise<number>((done) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => done(p));
      });
    });
    assert.equal(await cp.put('/meshes/default/dataplanes/guarded-1', inboundDp(port, 'guarded')), 201);
    const identity = await meshIdentity(cp.xdsAddress, 'guarded-1');
    for (const [file, pem] of [['g-cert.pem', identity.cert], ['g-key.pem', identity.key], ['g-ca.pem', identity.ca]] as const) writeFileSync(join(dir, file), pem, { mode: 0o600 });
    const server = new grpcXds.XdsServer({
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify({
        xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: 'default.guarded-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
        certificate_providers: {
          [PROXYLESS_CERTIFICATE_PROVIDER]: { plugin_name: 'file_watcher', config: { certificate_file: join(dir, 'g-cert.pem'), private_key_file: join(dir, 'g-key.pem'), ca_certificate_file: join(dir, 'g-ca.pem'), refresh_interval: '600s' } },
        },
        server_listener_resource_name_template: PROXYLESS_SERVER_LISTENER_TEMPLATE,
      }),
    });
    try {
      let serving = false;
      server.bindAsync(`0.0.0.0:${port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), () => (serving = true));
      // The rejection is recorded in the server's DataplaneInsight (LDS responses rejected).
      const deadline = Date.now() + 10_000;
      let rejected = 0;
      while (Date.now() < deadline && rejected === 0) {
        await new Promise((r) => setTimeout(r, 200));
        const insight = await cp.cp.store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'guarded-1' });
        const subs = (insight?.spec.subscriptions as Array<{ status?: { lds?: { responsesRejected?: string | number } } }> | undefined) ?? [];
        rejected = Number(subs.at(-1)?.status?.lds?.responsesRejected ?? 0);
      }
      assert.ok(rejected >= 1, 'the server NACKed its Listener');
      assert.equal(serving, false, 'and does not serve');
      await assert.rejects(
        new Promise((done, fail) => {
          const probe = createConnection({ host: '127.0.0.1', port }, () => done(undefined));
          probe.on('error', fail);
        }),
        /ECONNREFUSED/,
        'nothing listens on its port',
      );
    } finally {
      server.forceShutdown();
    }
  });

  it('refuses a server whose certificate names another service', async () => {
    const Client = grpc.makeGenericClientConstructor(WHO, 'Echo');
    const impostor = new Client('xds:///impostor', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure())) as unknown as WhoClient;
    try {
      await assert.rejects(who(impostor), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      impostor.close();
    }
  });
});

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { CERT_FILES, keepCertificateFiles, xdsTargetOf } from '../../src/dp/cert-files.js';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { PROXYLESS_CERTIFICATE_PROVIDER } from '../../src/xds/generators/envoy.js';
import { PROXYLESS_SERVER_LISTENER_TEMPLATE } from '../../src/xds/generators/proxyless-server.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { meshIdentity } from '../helpers/mesh-identity.js';

/**
 * Both ends proxyless (gRPC A29 + A36 + A41): a real grpc-js-xds client calls a real grpc-js-xds
 * XdsServer, each with the mesh identity of its own certificate provider, whose files the agent
 * (`skiff-dp certs`) keeps beside it over the same node id; the server's Listener
 * from Skiff requires a client certificate and enforces TrafficPermission with its RBAC filter.
 * grpc-js-xds enforces RBAC only with GRPC_XDS_EXPERIMENTAL_RBAC=true, read when it loads: set here
 * before importing it. (Without it the server must not serve at all: proxyless-mtls.test.ts.)
 */
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
const grpcXds = await import('@grpc/grpc-js-xds');

const raw = (b: Buffer) => b;
const WHO: grpc.ServiceDefinition = {
  who: { path: '/skiff.test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
type WhoClient = grpc.Client & { who: (req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void };
const who = (target: WhoClient) =>
  new Promise<string>((done, fail) => target.who(Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err, res) => (err ? fail(err) : done(res!.toString()))));

const MESH = { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } };
const grpcDp = (port: number, service: string) => ({ networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'grpc' } }] } });
const permission = (name: string, sources: string[]) => ({ type: 'TrafficPermission', mesh: 'default', name, sources: sources.map((s) => ({ match: { 'kuma.io/service': s } })), destinations: [{ match: { 'kuma.io/service': 'backend' } }] });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const stops: Array<() => void> = [];

/**
 * The certificate provider of `name`'s bootstrap, its files kept by the agent (`skiff-dp certs`'s
 * loop, in process) from the bootstrap the API gives that dataplane.
 */
async function agentProvider(cp: TestControlPlane, dir: string, name: string) {
  const bootstrap = await fetch(`http://127.0.0.1:${cp.cp.apiPort}/bootstrap`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 'default', name }) }).then((r) => r.text());
  const out = join(dir, name);
  mkdirSync(out, { mode: 0o700 });
  await new Promise<void>((written) => stops.push(keepCertificateFiles(xdsTargetOf(parseYaml(bootstrap), 'default'), out, pino({ level: 'silent' }), written)));
  const file = (f: string) => join(out, f);
  return { plugin_name: 'file_watcher', config: { certificate_file: file(CERT_FILES.cert), private_key_file: file(CERT_FILES.key), ca_certificate_file: file(CERT_FILES.ca), refresh_interval: '600s' } };
}

describe('proxyless gRPC server and client in an mTLS mesh (@grpc/grpc-js-xds XdsServer, RBAC on)', () => {
  let cp: TestControlPlane;
  let dir: string;
  let server: InstanceType<typeof grpcXds.XdsServer>;
  let client: WhoClient;
  let port: number;
  let intruderId: { cert: string; key: string; ca: string };

  before(async () => {
    cp = await startTestControlPlane(undefined);
    dir = mkdtempSync(join(tmpdir(), 'skiff-proxyless-server-'));
    assert.equal(await cp.put('/meshes/default', MESH), 200);
    // Only the client service may call backend (the mesh has no other permission).
    assert.equal(await cp.put('/meshes/default/traffic-permissions/client-to-backend', permission('client-to-backend', ['client'])), 201);
    port = await freePort();
    assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', grpcDp(port, 'backend')), 201);
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', grpcDp(1, 'client')), 201);
    assert.equal(await cp.put('/meshes/default/dataplanes/intruder-1', grpcDp(2, 'intruder')), 201);
    intruderId = await meshIdentity(cp.xdsAddress, 'intruder-1');

    // Registers the resolver and the HTTP filters (the server validates its Listener's with them).
    grpcXds.register();
    const xdsServers = [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
    server = new grpcXds.XdsServer({
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify({
        xds_servers: xdsServers,
        node: { id: 'default.backend-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
        certificate_providers: { [PROXYLESS_CERTIFICATE_PROVIDER]: await agentProvider(cp, dir, 'backend-1') },
        server_listener_resource_name_template: PROXYLESS_SERVER_LISTENER_TEMPLATE,
      }),
    });
    server.addService(WHO, {
      who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const peer = call.getAuthContext().sslPeerCertificate;
        callback(null, Buffer.from(peer?.raw ? new X509Certificate(peer.raw).subjectAltName ?? '' : 'no client certificate'));
      },
    });
    // The callback comes once the server has its Listener from the control plane and serves.
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error('the XdsServer did not start serving within 10 s')), 10_000);
      server.bindAsync(`0.0.0.0:${port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => {
        clearTimeout(timer);
        if (err) fail(err);
        else done();
      });
    });

    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: xdsServers,
      node: { id: 'default.client-1', locality: {}, metadata: { 'dataplane.proxyType': 'grpc' } },
      certificate_providers: { [PROXYLESS_CERTIFICATE_PROVIDER]: await agentProvider(cp, dir, 'client-1') },
    });
    const Client = grpc.makeGenericClientConstructor(WHO, 'Echo');
    client = new Client('xds:///backend', new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure())) as unknown as WhoClient;
  });

  after(async () => {
    for (const stop of stops) stop();
    client?.close();
    server?.forceShutdown();
    await cp?.cp.close();
    rmSync(cp.workDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  /** A direct (not xDS) mTLS client holding the intruder's mesh certificate. */
  function intruder(): WhoClient {
    const Client = grpc.makeGenericClientConstructor(WHO, 'Echo');
    const creds = grpc.credentials.createSsl(Buffer.from(intruderId.ca), Buffer.from(intruderId.key), Buffer.from(intruderId.cert), {
      // The server's certificate names spiffe://default/backend, not a host name.
      checkServerIdentity: (_host, cert) => (cert.subjectaltname?.includes('URI:spiffe://default/backend') ? undefined : new Error('not the backend service')),
    });
    return new Client(`127.0.0.1:${port}`, creds) as unknown as WhoClient;
  }

  /**
   * One call as the intruder, on a new connection each time: the server applies a new Listener to
   * new connections and drains the old ones gracefully (A36).
   */
  async function attempt(): Promise<string | grpc.ServiceError> {
    const other = intruder();
    try {
      return await who(other).catch((err: grpc.ServiceError) => err);
    } finally {
      other.close();
    }
  }

  /** Attempts until the intruder is admitted (or refused with PERMISSION_DENIED), for up to 5 s: a new Listener takes a moment. */
  async function untilIntruder(admitted: boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const outcome = await attempt();
      if (typeof outcome === 'string' ? admitted : !admitted) {
        if (typeof outcome === 'string') assert.equal(outcome, 'URI:spiffe://default/intruder');
        else assert.equal(outcome.code, grpc.status.PERMISSION_DENIED);
        return;
      }
      if (typeof outcome !== 'string') assert.equal(outcome.code, grpc.status.PERMISSION_DENIED);
      assert.ok(Date.now() < deadline, `${what} reached the server within 5 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('serves a permitted proxyless client over mutual TLS: the server sees spiffe://default/client', async () => {
    assert.equal(await who(client), 'URI:spiffe://default/client');
  });

  it('refuses a mesh identity TrafficPermission does not allow, and admits it once a permission does', async () => {
    const refused = await attempt();
    assert.ok(typeof refused !== 'string' && refused.code === grpc.status.PERMISSION_DENIED, `refused: ${String(refused)}`);
    assert.equal(await cp.put('/meshes/default/traffic-permissions/intruder-to-backend', permission('intruder-to-backend', ['intruder'])), 201);
    await untilIntruder(true, 'the new permission');
  });

  it('lets a MeshTrafficPermission replace the TrafficPermissions: the intruder they admit is refused again, the client it allows served', async () => {
    assert.equal(await attempt(), 'URI:spiffe://default/intruder', 'admitted by the TrafficPermission of the test before');
    const mtp = { type: 'MeshTrafficPermission', mesh: 'default', name: 'backend-callers', spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'client' }, default: { action: 'Allow' } }] } };
    assert.equal(await cp.put('/meshes/default/meshtrafficpermissions/backend-callers', mtp), 201);
    await untilIntruder(false, 'the MeshTrafficPermission');
    assert.equal(await who(client), 'URI:spiffe://default/client');
    // Deleted, it gives the TrafficPermissions back their say: the intruder is admitted again. Waited
    // for, too: a server shut down while that Listener reached it was seen to keep the test process
    // alive on a grpc-js certificate watcher's timer.
    assert.equal(await cp.del('/meshes/default/meshtrafficpermissions/backend-callers'), 200);
    await untilIntruder(true, 'the deletion');
  });

  it('refuses a client without a mesh certificate at the TLS handshake', async () => {
    const Client = grpc.makeGenericClientConstructor(WHO, 'Echo');
    const anonymous = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(intruderId.ca), null, null, { checkServerIdentity: () => undefined })) as unknown as WhoClient;
    try {
      await assert.rejects(who(anonymous), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      anonymous.close();
    }
  });
});

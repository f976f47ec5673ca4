import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { grpcDefinitions } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { adsService, StreamRefused, type ProxyAuthenticator, type ProxyRegistry } from '../../src/xds/server/ads-service.js';
import { credentialOf, identify } from '../../src/xds/server/identity.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

describe('xDS server', () => {
  it('serves TLS on the xDS port with a certificate generated at first start and kept across restarts', async (t) => {
    const workDir = mkdtempSync(join(tmpdir(), 'skiff-xds-tls-'));
    t.after(() => rmSync(workDir, { recursive: true, force: true }));
    const env = { KUMA_XDS_SERVER_TLS_ENABLED: 'true', KUMA_GENERAL_WORK_DIR: workDir };
    const cp = await startTestControlPlane(undefined, env);
    try {
      await cp.put('/meshes/default/dataplanes/web-1', { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } });
      const ca = readFileSync(join(workDir, 'certs', 'xds-server.crt'));
      const key = readFileSync(join(workDir, 'certs', 'xds-server.key'));
      const tls = new SotwClient(`localhost:${cp.cp.xds.port}`, 'default.web-1', { credentials: grpc.credentials.createSsl(ca) });
      tls.request(TYPE_URLS.cluster);
      assert.deepEqual((await tls.expect(TYPE_URLS.cluster)).names, ['localhost:80']);
      tls.close();

      // A client that does not trust the certificate is refused by its own TLS check.
      const untrusting = new SotwClient(`localhost:${cp.cp.xds.port}`, 'default.web-1', { credentials: grpc.credentials.createSsl() });
      untrusting.request(TYPE_URLS.cluster);
      assert.equal((await untrusting.inbox.closed()).code, grpc.status.UNAVAILABLE);
      untrusting.close();

      await cp.cp.close();
      const again = await startTestControlPlane(undefined, env);
      await again.cp.close();
      assert.deepEqual(readFileSync(join(workDir, 'certs', 'xds-server.key')), key, 'the key is reused, not regenerated');
    } finally {
      await cp.cp.close().catch(() => {});
    }
  });

  it('refuses to start when configured TLS files are missing, naming the key', async () => {
    await assert.rejects(
      startTestControlPlane(undefined, { KUMA_XDS_SERVER_TLS_ENABLED: 'true', KUMA_XDS_SERVER_TLS_CERT_FILE: '/nonexistent/cert.pem', KUMA_XDS_SERVER_TLS_KEY_FILE: '/nonexistent/key.pem' }),
      /xdsServer\.tlsCertFile \/nonexistent\/cert\.pem: ENOENT/,
    );
  });

  it('reads the node identity and the credential as Envoy and proxyless clients send them', () => {
    const envoy = identify({ id: 'default.web-1.v2', user_agent_name: 'envoy' });
    assert.deepEqual(envoy, { ok: true, identity: { nodeId: 'default.web-1.v2', mesh: 'default', name: 'web-1.v2', proxyless: false } });
    const grpcNode = identify({ id: 'm.c', user_agent_name: 'gRPC Node Pure JS' });
    assert.equal(grpcNode.ok && grpcNode.identity.proxyless, true);
    const declared = identify({ id: 'm.c', metadata: { fields: { 'dataplane.proxyType': { string_value: 'grpc' } } } });
    assert.equal(declared.ok && declared.identity.proxyless, true);
    for (const bad of ['', 'nodot', '.name', 'mesh.']) assert.equal(identify({ id: bad }).ok, false, bad);

    const md = (value?: string) => {
      const m = new grpc.Metadata();
      if (value !== undefined) m.set('authorization', value);
      return m;
    };
    assert.equal(credentialOf(md('Bearer abc.def.ghi'), undefined), 'abc.def.ghi');
    assert.equal(credentialOf(md('abc.def.ghi'), undefined), 'abc.def.ghi', "Kuma's bootstrap sends the raw token");
    assert.equal(credentialOf(md(), { metadata: { fields: { 'dataplane.token': { string_value: 'from-node' } } } }), 'from-node');
    assert.equal(credentialOf(md(), {}), undefined);
  });

  it('runs the pluggable authentication step before serving anything, and refuses with UNAUTHENTICATED', async (t) => {
    const cache = new SnapshotCache();
    const connected: string[] = [];
    const registry: ProxyRegistry = { connect: async (id) => void connected.push(id.nodeId), disconnect: () => {} };
    const authenticator: ProxyAuthenticator = {
      authenticate: async (_identity, credential) => {
        if (credential !== 'good-token') throw new StreamRefused(grpc.status.UNAUTHENTICATED, 'bad dataplane token');
      },
    };
    const server = new grpc.Server();
    const ads = adsService({ cache, registry, authenticator, logger: pino({ level: 'silent' }), secureTransport: false });
    server.addService(grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition, ads.implementation);
    const port = await new Promise<number>((done, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : done(p))));
    t.after(() => server.forceShutdown());

    const refused = new SotwClient(`127.0.0.1:${port}`, 'default.a', { metadata: { authorization: 'Bearer wrong' } });
    refused.request(TYPE_URLS.cluster);
    const s = await refused.inbox.closed();
    assert.equal(s.code, grpc.status.UNAUTHENTICATED);
    assert.equal(s.details, 'bad dataplane token');
    assert.deepEqual(connected, [], 'nothing was looked up or served before authentication');

    for (const options of [{ metadata: { authorization: 'Bearer good-token' } }, { metadata: { authorization: 'good-token' } }, { nodeMetadata: { 'dataplane.token': 'good-token' } }]) {
      const ok = new SotwClient(`127.0.0.1:${port}`, 'default.b', options);
      ok.request(TYPE_URLS.cluster);
      await ok.inbox.silence(150); // admitted (no snapshot yet, so nothing to send), not refused
      assert.equal(ok.inbox.status, undefined, JSON.stringify(options));
      ok.close();
    }
    assert.deepEqual(connected, ['default.b', 'default.b', 'default.b']);
    refused.close();
  });
});

import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { issueLeaf } from '../../src/sds/leaf.js';
import { generateMeshCa, loadCa } from '../../src/sds/pki.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient, type Response } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { svidProblems } from '../helpers/svid.js';

const { secret: SDS, listener: LDS, cluster: CDS } = TYPE_URLS;
const IDENTITY = 'identity_cert:secret:default';
const MESH_CA = 'mesh_ca:secret:default';

const dp = (address: string, service: string, outbound: string[] = []) => ({
  networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service } }], outbound: outbound.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});
const mtlsMesh = (expiration?: string) => ({ mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', ...(expiration ? { dpCert: { rotation: { expiration } } } : {}) }] } });

async function token(cp: TestControlPlane, name: string, mesh = 'default') {
  const r = await fetch(`${cp.api}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, mesh }) });
  assert.equal(r.status, 200);
  return r.text();
}

interface Pems {
  cert: string;
  key: string;
  ca: string;
}

/** Reads the identity and trust bundle out of an SDS response. */
function pems(response: Response): Pems {
  const byName = new Map(response.decoded.map((d) => [String(d.name), d as Record<string, any>]));
  const identity = byName.get(IDENTITY)!.tls_certificate;
  const ca = byName.get(MESH_CA)!.validation_context;
  const text = (b64: string) => Buffer.from(b64, 'base64').toString();
  return { cert: text(identity.certificate_chain.inline_bytes), key: text(identity.private_key.inline_bytes), ca: text(ca.trusted_ca.inline_bytes) };
}

async function secretsOf(client: SotwClient): Promise<Pems> {
  client.request(SDS, [IDENTITY, MESH_CA]);
  const response = await client.expect(SDS, 10_000);
  assert.deepEqual(response.names.sort(), [IDENTITY, MESH_CA].sort());
  client.ack(response, [IDENTITY, MESH_CA]);
  return pems(response);
}

/** A mutual-TLS handshake between two Node endpoints; resolves with the SAN the server saw, or rejects. */
function handshake(server: { cert: string; key: string; ca: string }, client: { cert?: string; key?: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const srv = tls.createServer({ cert: server.cert, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
      seen = socket.getPeerCertificate().subjectaltname ?? '';
      socket.end('ok');
    });
    srv.on('tlsClientError', () => {});
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const socket = tls.connect({ host: '127.0.0.1', port, cert: client.cert, key: client.key, ca: client.ca, checkServerIdentity: (_h, cert) => (cert.subjectaltname === 'URI:spiffe://default/backend' ? undefined : new Error(`unexpected server ${cert.subjectaltname}`)) });
      socket.on('data', () => {
        socket.end();
        srv.close();
        resolve(seen);
      });
      socket.on('error', (err) => {
        srv.close();
        reject(err);
      });
      socket.on('close', () => {
        srv.close();
        reject(new Error('connection closed before data'));
      });
    });
  });
}

describe('mesh mTLS over SDS', () => {
  it('gives two dataplanes SPIFFE certificates that authenticate each other, and nothing else does', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' });
    assert.equal(await cp.put('/meshes/default', mtlsMesh()), 200);
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web', ['backend']));
    await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    const web = new SotwClient(cp.xdsAddress, 'default.web-1', { metadata: { authorization: await token(cp, 'web-1') } });
    const backend = new SotwClient(cp.xdsAddress, 'default.backend-1', { metadata: { authorization: await token(cp, 'backend-1') } });
    t.after(() => {
      web.close();
      backend.close();
    });
    const webPems = await secretsOf(web);
    const backendPems = await secretsOf(backend);
    assert.deepEqual(svidProblems(webPems.cert, 'spiffe://default/web'), []);
    assert.deepEqual(svidProblems(backendPems.cert, 'spiffe://default/backend'), []);
    assert.equal(webPems.ca, backendPems.ca, 'one trust bundle per mesh');
    assert.ok(new X509Certificate(webPems.cert).verify(new X509Certificate(webPems.ca).publicKey), 'signed by the mesh CA');
    const dir = mkdtempSync(join(tmpdir(), 'skiff-svid-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), webPems.ca);
      writeFileSync(join(dir, 'web.pem'), webPems.cert);
      writeFileSync(join(dir, 'backend.pem'), backendPems.cert);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'web.pem'), join(dir, 'backend.pem')]).toString(), /web\.pem: OK\n.*backend\.pem: OK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(await cp.cp.store.get({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1' }), 'the builtin CA is kept as mesh secrets');

    assert.equal(await handshake({ ...backendPems }, { cert: webPems.cert, key: webPems.key, ca: webPems.ca }), 'URI:spiffe://default/web');

    const otherCa = await loadCa(await generateMeshCa('other'));
    const foreign = await issueLeaf({ spiffeId: 'spiffe://other/web', validForMs: 3600_000, ca: otherCa });
    await assert.rejects(handshake(backendPems, { cert: foreign.certPem, key: foreign.keyPem, ca: webPems.ca }), 'a certificate of another mesh');
    const meshCa = await loadCa({ certPem: webPems.ca, keyPem: Buffer.from(String((await cp.cp.store.get({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-key-ca-1' }))!.spec.data), 'base64').toString() });
    const expired = await issueLeaf({ spiffeId: 'spiffe://default/web', validForMs: -60_000, ca: meshCa });
    await assert.rejects(handshake(backendPems, { cert: expired.certPem, key: expired.keyPem, ca: webPems.ca }), 'an expired certificate');
    await assert.rejects(handshake(backendPems, { ca: webPems.ca }), 'no certificate at all');

    // The insight shows the certificate's expiry (the GUI and `skiffctl inspect dataplanes` read it).
    await cp.cp.xds.insights.flush();
    const overview = (await (await fetch(`${cp.api}/meshes/default/dataplanes+insights/web-1`)).json()) as { dataplaneInsight: { mTLS?: { certificateExpirationTime: string; certificateRegenerations: number } } };
    assert.equal(overview.dataplaneInsight.mTLS?.certificateExpirationTime, new X509Certificate(webPems.cert).validTo && new Date(new X509Certificate(webPems.cert).validTo).toISOString());
    assert.equal(overview.dataplaneInsight.mTLS?.certificateRegenerations, 1);
  });

  it('puts TLS on listeners and clusters, enforces TrafficPermission, and follows mTLS off — all over open streams', async (t) => {
    const cp = await startTestControlPlane(t);
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web', ['backend']));
    await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    const backend = new SotwClient(cp.xdsAddress, 'default.backend-1');
    t.after(() => backend.close());
    backend.request(LDS);
    const plain = await backend.expect(LDS);
    backend.ack(plain);
    const inbound = (r: Response) => r.decoded.find((l) => String(l.name).startsWith('inbound:')) as Record<string, any>;
    assert.equal(inbound(plain).filter_chains[0].transport_socket, undefined);

    assert.equal(await cp.put('/meshes/default', mtlsMesh()), 200);
    let lds = await backend.expect(LDS, 10_000);
    backend.ack(lds);
    let chain = inbound(lds).filter_chains[0];
    assert.equal(chain.transport_socket.typed_config.require_client_certificate.value, true);
    assert.equal(chain.filters[0].name, 'envoy.filters.network.rbac');
    assert.deepEqual(chain.filters[0].typed_config.rules.policies ?? {}, {}, 'no TrafficPermission: deny all');

    const started = Date.now();
    assert.equal(await cp.put('/meshes/default/traffic-permissions/web-to-backend', { sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }] }), 201);
    lds = await backend.expect(LDS, 5000);
    backend.ack(lds);
    assert.ok(Date.now() - started < 2000, 'a permission change reaches the proxy within 2 s');
    chain = inbound(lds).filter_chains[0];
    assert.deepEqual(chain.filters[0].typed_config.rules.policies['web-to-backend'].principals, [{ authenticated: { principal_name: { exact: 'spiffe://default/web' } } }]);

    const web = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => web.close());
    web.request(CDS);
    const cds = await web.expect(CDS, 10_000);
    const cluster = cds.decoded.find((c) => c.name === 'backend') as Record<string, any>;
    assert.deepEqual(cluster.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names, [{ san_type: 'URI', matcher: { exact: 'spiffe://default/backend' } }]);

    assert.equal(await cp.put('/meshes/default', {}), 200);
    lds = await backend.expect(LDS, 5000);
    assert.equal(inbound(lds).filter_chains[0].transport_socket, undefined, 'mTLS off again, same stream');
  });

  it('serves secrets on 5677 over TLS only to the dataplane the token names, and closes the stream of a revoked token', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' });
    await cp.put('/meshes/default', mtlsMesh());
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web'));
    await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    const webToken = await token(cp, 'web-1');
    const credentials = grpc.credentials.createSsl(readFileSync(join(cp.workDir, 'certs', 'sds-server.crt')));
    const sds = (node: string, authorization: string) => new SotwClient(`localhost:${cp.cp.xds.sdsPort}`, node, { credentials, metadata: { authorization }, sds: true });

    const stolen = sds('default.backend-1', webToken);
    stolen.request(SDS, [IDENTITY]);
    assert.equal((await stolen.inbox.closed()).code, grpc.status.PERMISSION_DENIED, 'web-1’s token cannot fetch backend-1’s certificate');
    stolen.close();

    const own = sds('default.web-1', webToken);
    t.after(() => own.close());
    own.request(CDS);
    const pemsOwn = await secretsOf(own);
    assert.deepEqual(svidProblems(pemsOwn.cert, 'spiffe://default/web'), []);
    await own.inbox.silence(200); // the CDS request was not answered: this service serves secrets only

    const { decodeJwt } = await import('jose');
    await cp.put('/meshes/default/secrets/dataplane-token-revocations-default', { data: Buffer.from(String(decodeJwt(webToken).jti)).toString('base64') });
    assert.equal((await own.inbox.closed(3000)).code, grpc.status.UNAUTHENTICATED);
  });

  it('renews a certificate before it expires, over the same stream', async (t) => {
    const cp = await startTestControlPlane(t);
    await cp.put('/meshes/default', mtlsMesh('10s'));
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web'));
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const first = await secretsOf(client);
    const firstCert = new X509Certificate(first.cert);
    const renewed = await client.expect(SDS, 12_000);
    const second = new X509Certificate(pems(renewed).cert);
    assert.notEqual(second.serialNumber, firstCert.serialNumber);
    assert.ok(Date.now() < Date.parse(firstCert.validTo), 'the new certificate arrived before the old one expired');
    assert.ok(Date.parse(second.validTo) > Date.parse(firstCert.validTo));
  });
});

describe('provided mesh CA', () => {
  it('is checked when the Mesh is stored and then signs the dataplane certificates', async (t) => {
    const cp = await startTestControlPlane(t);
    const ca = await generateMeshCa('default');
    const other = await generateMeshCa('other');
    const leaf = await issueLeaf({ spiffeId: 'spiffe://default/x', validForMs: 3600_000, ca: await loadCa(ca) });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await cp.put('/meshes/default/secrets/my-cert', { data: b64(ca.certPem) });
    await cp.put('/meshes/default/secrets/my-key', { data: b64(ca.keyPem) });
    await cp.put('/meshes/default/secrets/other-key', { data: b64(other.keyPem) });
    await cp.put('/meshes/default/secrets/leaf-cert', { data: b64(leaf.certPem) });
    await cp.put('/meshes/default/secrets/leaf-key', { data: b64(leaf.keyPem) });
    const provided = (cert: string, key: string) => ({ mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'provided', conf: { cert: { secret: cert }, key: { secret: key } } }] } });
    for (const [cert, key, reason] of [['missing', 'my-key', /secret "missing" .* not found/], ['leaf-cert', 'leaf-key', /not a CA/], ['my-cert', 'other-key', /key does not match/]] as const) {
      const r = await fetch(`${cp.api}/meshes/default`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(provided(cert, key)) });
      assert.equal(r.status, 400, `${cert}/${key}`);
      const body = (await r.json()) as { causes: Array<{ field: string; message: string }> };
      assert.equal(body.causes[0]!.field, 'mtls');
      assert.match(body.causes[0]!.message, reason);
    }
    assert.equal(await cp.put('/meshes/default', provided('my-cert', 'my-key')), 200);
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web'));
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const issued = await secretsOf(client);
    assert.equal(issued.ca, ca.certPem, 'the trust bundle is the provided CA');
    assert.ok(new X509Certificate(issued.cert).verify(new X509Certificate(ca.certPem).publicKey));
  });
});

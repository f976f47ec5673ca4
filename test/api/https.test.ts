import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateTlsCertificate } from '../../src/auth/server-cert.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

/** An HTTPS request from "another machine": the Host header is not loopback, so localhost-is-admin never applies. */
function get(port: number, path: string, options: { ca?: Buffer; cert?: string; key?: string; token?: string; rejectUnauthorized?: boolean } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        headers: { host: 'cp.example:5682', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('HTTPS API (5682)', () => {
  it('serves the API over TLS with a certificate generated at first start; clients verify it', async (t) => {
    const workDir = mkdtempSync(join(tmpdir(), 'skiff-https-'));
    t.after(() => rmSync(workDir, { recursive: true, force: true }));
    const cp = await startTestControlPlane(t, { KUMA_GENERAL_WORK_DIR: workDir });
    const ca = readFileSync(join(workDir, 'certs', 'api-server.crt'));
    const admin = Buffer.from(String((await cp.cp.store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }))!.spec.data), 'base64').toString();
    assert.equal((await get(cp.cp.apiHttpsPort, '/meshes', { ca, token: admin })).status, 200);
    assert.equal((await get(cp.cp.apiHttpsPort, '/meshes', { ca })).status, 401, 'no token, not local: anonymous');
    await assert.rejects(get(cp.cp.apiHttpsPort, '/meshes', { token: admin }), /self[- ]signed|unable to verify/i, 'an unverified server is refused by the client');
  });

  it('adminClientCerts: a configured client certificate is admin, any other certificate is refused', async (t) => {
    const workDir = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
    t.after(() => rmSync(workDir, { recursive: true, force: true }));
    const allowed = await generateTlsCertificate('client');
    const stranger = await generateTlsCertificate('client');
    mkdirSync(join(workDir, 'clients'));
    writeFileSync(join(workDir, 'clients', 'client1.pem'), allowed.certPem);
    const cp = await startTestControlPlane(t, { KUMA_GENERAL_WORK_DIR: workDir, KUMA_API_SERVER_AUTHN_TYPE: 'adminClientCerts', KUMA_API_SERVER_AUTH_CLIENT_CERTS_DIR: join(workDir, 'clients') });
    const ca = readFileSync(join(workDir, 'certs', 'api-server.crt'));
    const who = await get(cp.cp.apiHttpsPort, '/who-am-i', { ca, cert: allowed.certPem, key: allowed.keyPem });
    assert.deepEqual(JSON.parse(who.body), { name: 'mesh-system:admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] });
    assert.equal((await get(cp.cp.apiHttpsPort, '/global-secrets', { ca, cert: allowed.certPem, key: allowed.keyPem })).status, 200);
    const refused = await get(cp.cp.apiHttpsPort, '/meshes', { ca, cert: stranger.certPem, key: stranger.keyPem });
    assert.equal(refused.status, 401);
    assert.match(JSON.parse(refused.body).details, /not one of the admin client certificates/);
    const noCertificate = await get(cp.cp.apiHttpsPort, '/meshes', { ca });
    assert.equal(noCertificate.status, 401);
    assert.match(JSON.parse(noCertificate.body).details, /needs an admin client certificate/, 'names what this mode accepts, not a bearer token');
  });

  it('refuses to start when adminClientCerts has no readable directory', async () => {
    await assert.rejects(startTestControlPlane(undefined, { KUMA_API_SERVER_AUTHN_TYPE: 'adminClientCerts' }), /clientCertsDir/);
    await assert.rejects(startTestControlPlane(undefined, { KUMA_API_SERVER_AUTHN_TYPE: 'adminClientCerts', KUMA_API_SERVER_AUTH_CLIENT_CERTS_DIR: '/nonexistent' }), /ENOENT/);
  });
});

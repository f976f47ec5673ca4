import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { CERT_FILES, keepCertificateFiles, xdsTargetOf } from '../../src/dp/cert-files.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

const SKIFF_DP = fileURLToPath(new URL('../../src/cli/skiff-dp.js', import.meta.url));
const mtlsMesh = (expiration: string) => ({ mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', dpCert: { rotation: { expiration } } }] } });
const grpcDp = (service: string) => ({ networking: { address: '127.0.0.1', inbound: [{ port: 50051, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'grpc' } }] } });

describe('skiff-dp certs (the certificate files of a proxyless gRPC application)', () => {
  it('writes the dataplane identity and the mesh CA once, owner-only key, from the bootstrap of the API', async (t) => {
    const cp = await startTestControlPlane(t);
    assert.equal(await cp.put('/meshes/default', mtlsMesh('24h')), 200);
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', grpcDp('client')), 201);
    const dir = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'certs');
    // Asynchronously: the control plane runs in this process and must keep answering.
    const run = await promisify(execFile)(process.execPath, [SKIFF_DP, 'certs', '--cp-address', `http://127.0.0.1:${cp.cp.apiPort}`, '--name', 'client-1', '--dir', out, '--once'], { encoding: 'utf8', timeout: 20_000 });
    assert.match(run.stdout, /wrote the mesh certificate files/);
    const cert = new X509Certificate(readFileSync(join(out, CERT_FILES.cert)));
    assert.equal(cert.subjectAltName, 'URI:spiffe://default/client');
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(out, CERT_FILES.key)))), 'the key is the certificate’s');
    assert.ok(cert.verify(new X509Certificate(readFileSync(join(out, CERT_FILES.ca))).publicKey), 'the mesh CA signed it');
    assert.equal(statSync(join(out, CERT_FILES.key)).mode & 0o777, 0o600);
    assert.equal(statSync(out).mode & 0o777, 0o700);
  });

  it('rewrites the files when the certificate is renewed', async (t) => {
    const cp = await startTestControlPlane(t);
    // 4 s certificates: renewed at the end of each 3 s window.
    assert.equal(await cp.put('/meshes/default', mtlsMesh('4s')), 200);
    assert.equal(await cp.put('/meshes/default/dataplanes/client-1', grpcDp('client')), 201);
    const dir = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const bootstrap = await fetch(`http://127.0.0.1:${cp.cp.apiPort}/bootstrap`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 'default', name: 'client-1' }) }).then((r) => r.text());
    const target = xdsTargetOf(parseYaml(bootstrap), 'default');
    assert.deepEqual(target.addresses, [`localhost:${cp.xdsAddress.split(':')[1]}`]);
    const serials: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw ${serials.length} certificates in 10 s`)), 10_000);
      const stop = keepCertificateFiles(target, dir, pino({ level: 'silent' }), () => {
        const serial = new X509Certificate(readFileSync(join(dir, CERT_FILES.cert))).serialNumber;
        if (!serials.includes(serial)) serials.push(serial);
        if (serials.length === 2) {
          clearTimeout(timer);
          stop();
          resolve();
        }
      });
    });
    assert.equal(serials.length, 2, 'a renewed certificate replaced the first');
  });
});

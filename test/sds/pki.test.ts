import 'reflect-metadata'; // before @peculiar/x509, as src/sds/pki.ts does
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { generateMeshCa, issueSvid, loadCa, spiffeId } from '../../src/sds/pki.js';
import { svidProblems } from '../helpers/svid.js';

describe('mesh PKI', () => {
  it('builds SPIFFE IDs only from valid trust domains and path segments', () => {
    assert.equal(spiffeId('default', ['backend']), 'spiffe://default/backend');
    assert.equal(spiffeId('mesh-1', ['web_api.v2']), 'spiffe://mesh-1/web_api.v2');
    for (const [domain, path] of [['Default', ['a']], ['default', ['a/b']], ['default', ['..']], ['default', ['']], ['de fault', ['a']], ['default', ['a%20b']]] as const) {
      assert.equal(spiffeId(domain, [...path]), undefined, `${domain} ${path.join('/')}`);
    }
  });

  it('generates a builtin CA as Kuma does: cA=true, keyCertSign, SPIFFE ID without a path', async () => {
    const ca = await generateMeshCa('default');
    const cert = new x509.X509Certificate(ca.certPem);
    assert.equal(cert.subject, 'CN=default, O=Kuma, OU=Mesh');
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, true);
    assert.ok(cert.getExtension(x509.KeyUsagesExtension)!.usages & x509.KeyUsageFlags.keyCertSign);
    assert.deepEqual(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => n.value), ['spiffe://default']);
    assert.ok(cert.notAfter.getTime() - Date.now() > 9 * 365 * 24 * 3600_000);
  });

  it('issues X509-SVIDs that pass every rule and `openssl verify` against the mesh CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-pki-'));
    try {
      const ca = await generateMeshCa('default');
      const other = await generateMeshCa('other');
      const leaf = await issueSvid({ spiffeId: 'spiffe://default/backend', validForMs: 24 * 3600_000, ca: await loadCa(ca) });
      assert.deepEqual(svidProblems(leaf.certPem, 'spiffe://default/backend'), []);
      assert.equal(new x509.X509Certificate(leaf.certPem).subject, '', 'empty subject');
      const life = new X509Certificate(leaf.certPem);
      assert.ok(Date.parse(life.validFrom) <= Date.now() - 4 * 60_000, 'backdated a few minutes');
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'other.pem'), other.certPem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString(), /leaf\.pem: OK/);
      assert.throws(() => execFileSync('openssl', ['verify', '-CAfile', join(dir, 'other.pem'), join(dir, 'leaf.pem')], { stdio: 'pipe' }), 'another mesh CA does not verify it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a CA that is not a CA, or whose key does not match', async () => {
    const ca = await generateMeshCa('default');
    const other = await generateMeshCa('other');
    await assert.rejects(loadCa({ certPem: ca.certPem, keyPem: other.keyPem }), /key does not match/);
    const leaf = await issueSvid({ spiffeId: 'spiffe://default/x', validForMs: 60_000, ca: await loadCa(ca) });
    await assert.rejects(loadCa(leaf), /not a CA/);
  });
});

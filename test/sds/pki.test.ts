import 'reflect-metadata'; // before @peculiar/x509, as src/sds/pki.ts does
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { issueLeaf } from '../../src/sds/leaf.js';
import { generateMeshCa, loadCa, spiffeId } from '../../src/sds/pki.js';
import { issuanceWindow } from '../../src/sds/identities.js';
import { contentsOf, elementsOf } from '../../src/sds/svid-template.js';
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
      const leaf = await issueLeaf({ spiffeId: 'spiffe://default/backend', validForMs: 24 * 3600_000, ca: await loadCa(ca) });
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

  it('issues the same certificate and key on every control plane for a holder and window, and passes openssl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-pki-'));
    try {
      const ca = await generateMeshCa('default');
      // Two control planes load the same stored CA on their own.
      const [a, b] = [await loadCa(ca), await loadCa(ca)];
      const window = issuanceWindow('default.web-1', 24 * 3600_000, Date.now());
      const request = (signer: typeof a, holder: string, windowStartMs: number) =>
        issueLeaf({ spiffeId: 'spiffe://default/web', validForMs: 24 * 3600_000, ca: signer, deterministic: { holder, windowStartMs } });
      const onA = await request(a, 'default.web-1', window.startMs);
      const onB = await request(b, 'default.web-1', window.startMs);
      assert.equal(onB.certPem, onA.certPem);
      assert.equal(onB.keyPem, onA.keyPem);
      const otherHolder = await request(a, 'default.web-2', window.startMs);
      const nextWindow = await request(a, 'default.web-1', window.endMs);
      assert.notEqual(otherHolder.keyPem, onA.keyPem, 'each dataplane has its own key');
      assert.notEqual(nextWindow.keyPem, onA.keyPem, 'each window has a new key');
      assert.notEqual(new X509Certificate(nextWindow.certPem).serialNumber, new X509Certificate(onA.certPem).serialNumber);
      // Another CA derives other keys for the same holder and window.
      const foreign = await request(await loadCa(await generateMeshCa('default')), 'default.web-1', window.startMs);
      assert.notEqual(foreign.keyPem, onA.keyPem);

      assert.deepEqual(svidProblems(onA.certPem, 'spiffe://default/web'), []);
      const cert = new X509Certificate(onA.certPem);
      assert.equal(Date.parse(cert.validFrom), Math.floor((window.startMs - 5 * 60_000) / 1000) * 1000);
      assert.equal(Date.parse(cert.validTo), Math.floor((window.startMs + 24 * 3600_000) / 1000) * 1000);
      assert.ok(cert.checkPrivateKey(createPrivateKey(onA.keyPem)), 'the key is the certificate’s');
      // The key's PKCS#8 is assembled by hand: it must be what OpenSSL itself exports for that key.
      assert.equal(createPrivateKey(onA.keyPem).export({ type: 'pkcs8', format: 'pem' }), onA.keyPem);
      assert.equal(createPrivateKey(nextWindow.keyPem).export({ type: 'pkcs8', format: 'pem' }), nextWindow.keyPem);
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'leaf.pem'), onA.certPem);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString(), /leaf\.pem: OK/);
      // Windows are 80% of the validity and each node's are shifted, so renewals spread out.
      assert.equal(window.endMs - window.startMs, 19.2 * 3600_000);
      assert.ok(window.startMs <= Date.now() && Date.now() < window.endMs);
      const starts = new Set(Array.from({ length: 20 }, (_, i) => issuanceWindow(`default.web-${i}`, 24 * 3600_000, Date.now()).startMs));
      assert.ok(starts.size > 15, `window starts differ between nodes (${starts.size} of 20)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('assembles each certificate byte for byte as @peculiar/x509 builds it from the same fields, ECDSA and RSA CAs, UTCTime and GeneralizedTime', async () => {
    const cases = [
      // The builtin CA (P-256): the library's ECDSA signature takes a random nonce, so everything but the signature value is compared.
      { ca: await generateMeshCa('default'), algorithm: { name: 'ECDSA', hash: 'SHA-256' }, importAs: { name: 'ECDSA', namedCurve: 'P-256' }, wholeBytes: false },
      // A provided (or Kuma-stored) RSA CA: PKCS#1 v1.5 is deterministic, so the whole certificate is compared.
      { ca: await rsaMeshCa('default'), algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, importAs: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, wholeBytes: true },
    ];
    for (const { ca, algorithm, importAs, wholeBytes } of cases) {
      const signing = await loadCa(ca);
      const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' }), importAs, false, ['sign']);
      for (const [windowStart, validForMs] of [[Date.parse('2026-12-01T10:00:00.123Z'), 24 * 3600_000], [Date.parse('2049-12-31T20:00:00Z'), 2 * 24 * 3600_000]] as const) {
        const leaf = await issueLeaf({ spiffeId: 'spiffe://default/web', validForMs, ca: signing, deterministic: { holder: 'default.web-1', windowStartMs: windowStart } });
        const ours = new x509.X509Certificate(leaf.certPem);
        const library = await x509.X509CertificateGenerator.create({
          serialNumber: ours.serialNumber,
          subject: '',
          issuer: signing.cert.subject,
          notBefore: ours.notBefore,
          notAfter: ours.notAfter,
          publicKey: await ours.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']),
          signingKey: caKey,
          signingAlgorithm: algorithm,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
            new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://default/web' }], true),
            await x509.AuthorityKeyIdentifierExtension.create(signing.cert),
          ],
        });
        const [ourTbs, ourAlgorithm] = elementsOf(contentsOf(Buffer.from(ours.rawData)));
        const [libraryTbs, libraryAlgorithm] = elementsOf(contentsOf(Buffer.from(library.rawData)));
        assert.equal(ourTbs!.toString('hex'), libraryTbs!.toString('hex'), algorithm.name);
        assert.equal(ourAlgorithm!.toString('hex'), libraryAlgorithm!.toString('hex'), algorithm.name);
        if (wholeBytes) assert.equal(Buffer.from(ours.rawData).toString('hex'), Buffer.from(library.rawData).toString('hex'));
        assert.equal(ours.notBefore.getTime(), Math.floor((windowStart - 5 * 60_000) / 1000) * 1000);
        assert.ok(await ours.verify({ publicKey: signing.cert.publicKey, signatureOnly: true }), `signed by the ${algorithm.name} CA`);
        assert.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey), 'OpenSSL verifies the signature');
      }
    }
  });

  it('signs with an RSA CA (provided, or a builtin CA Kuma stored) and refuses keys it cannot sign with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-pki-'));
    try {
      const ca = await rsaMeshCa('default');
      const leaf = await issueLeaf({ spiffeId: 'spiffe://default/backend', validForMs: 24 * 3600_000, ca: await loadCa(ca) });
      assert.deepEqual(svidProblems(leaf.certPem, 'spiffe://default/backend'), []);
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString(), /leaf\.pem: OK/);
      const builtin = new X509Certificate((await generateMeshCa('default')).certPem);
      assert.equal(builtin.publicKey.asymmetricKeyType, 'ec');
      assert.equal(builtin.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const p384 = await selfSignedCa({ name: 'ECDSA', namedCurve: 'P-384' }, { name: 'ECDSA', hash: 'SHA-384' });
    await assert.rejects(loadCa(p384), /the key is EC secp384r1; a mesh CA signs with RSA or ECDSA P-256/);
  });

  it('refuses a CA that is not a CA, or whose key does not match', async () => {
    const ca = await generateMeshCa('default');
    const other = await generateMeshCa('other');
    await assert.rejects(loadCa({ certPem: ca.certPem, keyPem: other.keyPem }), /key does not match/);
    const leaf = await issueLeaf({ spiffeId: 'spiffe://default/x', validForMs: 60_000, ca: await loadCa(ca) });
    await assert.rejects(loadCa(leaf), /not a CA/);
  });
});

/** A CA with the builtin CA's fields and a key type Skiff does not generate, built by the library. */
async function selfSignedCa(keyType: webcrypto.EcKeyGenParams, signingAlgorithm: webcrypto.EcdsaParams, mesh = 'default') {
  const keys = (await webcrypto.subtle.generateKey(keyType, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${mesh}, O=Kuma, OU=Mesh`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * 24 * 3600_000),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${mesh}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

/** An RSA 2048 CA, as Kuma's builtin CA is. */
const rsaMeshCa = (mesh: string) => generateMeshCa(mesh, undefined, { rsaBits: 2048 });

import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { createPrivateKey, createPublicKey, hkdfSync, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pem } from '../core/pem.js';
import type { CaKeyType } from '../core/resources/mesh.js';
import { randomSerial, RSA } from '../auth/server-cert.js';
import { BACKDATE_MS } from './leaf.js';
import { SvidTemplate, contentsOf, elementsOf, type CaSigningKey } from './svid-template.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const PATH_SEGMENT = /^[a-zA-Z0-9._-]+$/;

/**
 * A SPIFFE ID per the SPIFFE-ID spec: lowercase trust domain of `[a-z0-9._-]`, path segments of
 * `[a-zA-Z0-9._-]` with no empty, `.` or `..` segment, at most 2048 bytes. Undefined when the
 * mesh or service name cannot form one (the dataplane then gets no identity, and the log says why).
 */
export function spiffeId(trustDomain: string, path: readonly string[] = []): string | undefined {
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  if (path.some((s) => !PATH_SEGMENT.test(s) || s === '.' || s === '..')) return undefined;
  const id = `spiffe://${trustDomain}${path.map((s) => `/${s}`).join('')}`;
  return Buffer.byteLength(id) <= 2048 ? id : undefined;
}

/*
 * Dataplane keys are ECDSA P-256: an RSA 2048 key takes 100–160 ms to generate on the project
 * machine, so turning mTLS on for 1,000 dataplanes cost about 160 s of CPU (bench/xds-load
 * --mtls); a P-256 key is derived in about 0.15 ms, and its handshakes are cheaper too. The builtin
 * CA is ECDSA P-256 too (Kuma's is RSA 2048): signing a leaf, the largest cost of turning mTLS on
 * for a mesh, takes about 0.23 ms deterministically (p256.ts) against 0.6 ms for RSA 2048 here,
 * and determinism is what lets every instance issue the same bytes. Envoy and gRPC accept ECDSA
 * chains. CAs with RSA keys (provided ones, or builtin ones Kuma stored) still sign, with RSA.
 */
const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
async function newKeys(type: CaKeyType): Promise<{ keys: webcrypto.CryptoKeyPair; signingAlgorithm: typeof ECDSA_SHA256 | typeof RSA }> {
  if (type === 'P-256') return { keys: (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair, signingAlgorithm: ECDSA_SHA256 };
  return { keys: (await webcrypto.subtle.generateKey({ ...RSA, modulusLength: type.rsaBits }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair, signingAlgorithm: RSA };
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/**
 * A builtin mesh CA as Kuma's, but with an ECDSA P-256 key unless RSA is asked for (see above): self-signed,
 * `CN={mesh}, O=Kuma, OU=Mesh`, SAN `spiffe://{mesh}` (a CA's SPIFFE ID has no path), `cA=true`,
 * keyCertSign and cRLSign, ten years.
 */
export async function generateMeshCa(mesh: string, validForMs = 10 * 365 * 24 * 3600_000, keyType: CaKeyType = 'P-256'): Promise<KeyAndCert> {
  const id = spiffeId(mesh);
  if (!id) throw new Error(`mesh name "${mesh}" cannot be a SPIFFE trust domain`);
  const { keys, signingAlgorithm } = await newKeys(keyType);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${mesh}, O=Kuma, OU=Mesh`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validForMs),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) };
}

/** A mesh CA parsed for signing. `seed` is secret material derived from its key (see `issueLeaf` in leaf.ts). */
export interface SigningCa {
  cert: x509.X509Certificate;
  seed: Buffer;
  /** What its leaves share, encoded once (svid-template.ts). */
  template: SvidTemplate;
}

/** Parses a CA (cert + PKCS#8/PKCS#1 key PEM) for signing; throws with a reason when unusable. */
export async function loadCa(ca: KeyAndCert): Promise<SigningCa> {
  const cert = new x509.X509Certificate(ca.certPem);
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new Error('the certificate is not a CA (basicConstraints cA is not true)');
  const nodeKey = createPrivateKey(ca.keyPem);
  const p256 = nodeKey.asymmetricKeyType === 'ec' && nodeKey.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (nodeKey.asymmetricKeyType !== 'rsa' && !p256) {
    const type = nodeKey.asymmetricKeyType === 'ec' ? `EC ${nodeKey.asymmetricKeyDetails?.namedCurve ?? ''}`.trim() : (nodeKey.asymmetricKeyType ?? 'not an asymmetric key');
    throw new Error(`the key is ${type}; a mesh CA signs with RSA or ECDSA P-256`);
  }
  const spkiFromKey = createPublicKey(nodeKey).export({ type: 'spki', format: 'der' });
  if (!Buffer.from(cert.publicKey.rawData).equals(spkiFromKey)) throw new Error('the key does not match the certificate');
  const pkcs8 = nodeKey.export({ type: 'pkcs8', format: 'der' });
  const seed = Buffer.from(hkdfSync('sha256', pkcs8, 'skiff-svid-seed', 'v1', 32));
  const signingKey: CaSigningKey = p256 ? { p256: Buffer.from(nodeKey.export({ format: 'jwk' }).d!, 'base64url') } : { rsa: nodeKey };
  return { cert, seed, template: await templateFor(cert, signingKey) };
}

/** The parts every leaf of a CA shares, encoded by the library once (svid-template.ts splices the rest). */
async function templateFor(caCert: x509.X509Certificate, caKey: CaSigningKey): Promise<SvidTemplate> {
  // Certificate: tbsCertificate, ...; tbsCertificate: [0] version, serial, signature, issuer, validity, subject, ...
  const tbs = elementsOf(contentsOf(elementsOf(contentsOf(Buffer.from(caCert.rawData)))[0]!));
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  const aki = await x509.AuthorityKeyIdentifierExtension.create(caCert);
  return new SvidTemplate({ issuer: Buffer.from(tbs[5]!), fixedExtensions: Buffer.concat(extensions.map((e) => Buffer.from(e.rawData))), aki: Buffer.from(aki.rawData), caKey });
}


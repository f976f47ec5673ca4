import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SvidTemplate } from './svid-template.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
/** Certificates start a few minutes in the past, so clocks a little behind still accept them. */
export const BACKDATE_MS = 5 * 60_000;

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

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

const randomSerial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

/*
 * Dataplane keys are ECDSA P-256: an RSA 2048 key takes 100–160 ms to generate on the project
 * machine, so turning mTLS on for 1,000 dataplanes cost about 160 s of CPU (bench/xds-load
 * --mtls); a P-256 key is derived in about 0.15 ms, and its handshakes are cheaper too. The CA
 * stays RSA 2048 as Kuma's builtin CA is: its PKCS#1 v1.5 signatures are deterministic (so every
 * instance issues the same bytes), at about 0.4 ms each.
 */
async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)));
}

/**
 * Kuma's builtin mesh CA: self-signed RSA 2048, `CN={mesh}, O=Kuma, OU=Mesh`, SAN `spiffe://{mesh}`
 * (a CA's SPIFFE ID has no path), `cA=true`, keyCertSign and cRLSign, ten years.
 */
export async function generateMeshCa(mesh: string, validForMs = 10 * 365 * 24 * 3600_000): Promise<KeyAndCert> {
  const id = spiffeId(mesh);
  if (!id) throw new Error(`mesh name "${mesh}" cannot be a SPIFFE trust domain`);
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${mesh}, O=Kuma, OU=Mesh`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validForMs),
    keys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) };
}

/** A mesh CA parsed for signing. `seed` is secret material derived from its key (see `issueSvid`). */
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
  if (nodeKey.asymmetricKeyType !== 'rsa') throw new Error(`the key is ${nodeKey.asymmetricKeyType ?? 'not an asymmetric key'}; a mesh CA signs with RSA`);
  const spkiFromKey = createPublicKey(nodeKey).export({ type: 'spki', format: 'der' });
  if (!Buffer.from(cert.publicKey.rawData).equals(spkiFromKey)) throw new Error('the key does not match the certificate');
  const pkcs8 = nodeKey.export({ type: 'pkcs8', format: 'der' });
  const seed = Buffer.from(hkdfSync('sha256', pkcs8, 'skiff-svid-seed', 'v1', 32));
  return { cert, seed, template: await SvidTemplate.forCa(cert, nodeKey) };
}

// The order of P-256's base point.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** SubjectPublicKeyInfo of a P-256 key up to its 65-byte uncompressed point (id-ecPublicKey, prime256v1). */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
/** PKCS#8 of a P-256 key as OpenSSL exports it: the prefix, d (32 bytes), the middle, the point. */
const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const P256_PKCS8_MIDDLE = Buffer.from('a144034200', 'hex');

/**
 * A P-256 key determined by `secret`: the private scalar is 48 bytes of HKDF output reduced into
 * [1, n-1] (FIPS 186-5 A.2.1, "extra random bits"), the public point computed from it. Both
 * encodings are assembled around d and the point (what OpenSSL exports, tested): importing the
 * key as a KeyObject to export it again cost more than the point multiplication.
 */
function derivedLeafKey(secret: Buffer, info: string): { spki: Buffer; pkcs8: Buffer } {
  const wide = BigInt(`0x${Buffer.from(hkdfSync('sha256', secret, 'skiff-svid-key', info, 48)).toString('hex')}`);
  const d = Buffer.from(((wide % (P256_N - 1n)) + 1n).toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  return { spki: Buffer.concat([P256_SPKI_PREFIX, point]), pkcs8: Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_MIDDLE, point]) };
}

function randomLeafKey(): { spki: Buffer; pkcs8: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { spki: publicKey.export({ type: 'spki', format: 'der' }), pkcs8: privateKey.export({ type: 'pkcs8', format: 'der' }) };
}

export interface SvidRequest {
  /** `spiffe://{mesh}/{service}`: the one URI SAN (X509-SVID allows exactly one). */
  spiffeId: string;
  validForMs: number;
  ca: SigningCa;
  /**
   * Issue the certificate every control plane with this CA issues for this holder in this window:
   * key, serial and validity are derived from (CA seed, SPIFFE ID, holder, window start), and the
   * CA's RSA PKCS#1 v1.5 signature is deterministic, so the PEMs are identical byte for byte. A
   * proxy that fails over to another instance then receives no new secret. Without it: a fresh
   * random key and serial, valid from now.
   */
  deterministic?: { holder: string; windowStartMs: number };
}

/**
 * An X509-SVID leaf: empty subject, exactly one URI SAN, `cA=false`, critical keyUsage
 * digitalSignature + keyAgreement (an EC key does no key encipherment), EKU serverAuth +
 * clientAuth, an ECDSA P-256 key, backdated a few minutes, signed by the mesh CA (RSA).
 */
export async function issueSvid(request: SvidRequest): Promise<KeyAndCert & { notAfter: Date }> {
  const fixed = request.deterministic;
  const info = fixed ? `${request.spiffeId}\u0000${fixed.holder}\u0000${fixed.windowStartMs}` : '';
  const key = fixed ? derivedLeafKey(request.ca.seed, info) : randomLeafKey();
  const start = fixed ? fixed.windowStartMs : Date.now();
  const serial = fixed ? createHash('sha256').update(request.ca.seed).update(info).digest().subarray(0, 16) : randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x10; // positive, and 16 bytes long in DER
  const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  const notAfter = wholeSeconds(start + request.validForMs);
  const der = request.ca.template.issue({
    serial,
    notBefore: wholeSeconds(start - BACKDATE_MS),
    notAfter,
    spki: key.spki,
    spiffeId: request.spiffeId,
  });
  return { certPem: pem('CERTIFICATE', der) + '\n', keyPem: pem('PRIVATE KEY', key.pkcs8), notAfter };
}

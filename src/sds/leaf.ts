import { createHash, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { pem } from '../core/pem.js';
import { P256_N, publicPoint } from './p256.js';
import type { SvidTemplate } from './svid-template.js';

/**
 * Dataplane certificates (X509-SVIDs) from a CA's template: key, serial, validity, signature. Only
 * node:crypto and the template, so a signing worker thread (svid-signer.ts) loads this and no more.
 */

/** Certificates start a few minutes in the past, so clocks a little behind still accept them. */
export const BACKDATE_MS = 5 * 60_000;

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
  const point = publicPoint(d);
  return { spki: Buffer.concat([P256_SPKI_PREFIX, point]), pkcs8: Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_MIDDLE, point]) };
}

function randomLeafKey(): { spki: Buffer; pkcs8: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { spki: publicKey.export({ type: 'spki', format: 'der' }), pkcs8: privateKey.export({ type: 'pkcs8', format: 'der' }) };
}

/** What signs leaves: secret material derived from the CA key, and the CA's template. */
export interface LeafSigner {
  seed: Buffer;
  template: SvidTemplate;
}

export interface SvidRequest {
  /** `spiffe://{mesh}/{service}`: the one URI SAN (X509-SVID allows exactly one). */
  spiffeId: string;
  validForMs: number;
  ca: LeafSigner;
  /**
   * Issue the certificate every control plane with this CA issues for this holder in this window:
   * key, serial and validity are derived from (CA seed, SPIFFE ID, holder, window start), and the
   * CA's signature is deterministic (ECDSA per RFC 6979, or RSA PKCS#1 v1.5), so the PEMs are
   * identical byte for byte. A proxy that fails over to another instance then receives no new
   * secret. Without it: a fresh random key and serial, valid from now.
   */
  deterministic?: { holder: string; windowStartMs: number };
}

export interface IssuedSvid {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/**
 * An X509-SVID leaf: empty subject, exactly one URI SAN, `cA=false`, critical keyUsage
 * digitalSignature + keyAgreement (an EC key does no key encipherment), EKU serverAuth +
 * clientAuth, an ECDSA P-256 key, backdated a few minutes, signed by the mesh CA (ECDSA or RSA).
 */
export function issueLeaf(request: SvidRequest): IssuedSvid {
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

import { sign, type KeyObject } from 'node:crypto';
import { signP256Deterministic } from './p256.js';

/**
 * X509-SVIDs assembled from DER parts instead of built by @peculiar/x509 each time. The library's
 * JavaScript ASN.1 took about 2 ms a certificate (most of the CPU of turning mTLS on for a mesh);
 * here every part that does not change between leaves of one CA (issuer, algorithm, extensions)
 * is encoded once by the library, a leaf's own parts (serial, validity, key, SAN) are spliced in,
 * and the CA signs (p256.ts, or OpenSSL for RSA). test/sds/pki.test.ts checks that the
 * result is byte for byte what the library builds from the same fields. The shared parts are built
 * in pki.ts (`templateFor`); this module needs no ASN.1 library, so signing workers load little.
 * An ECDSA P-256 CA (the builtin CA's type) signs deterministically (p256.ts) in about a third of
 * RSA 2048's time; an RSA CA (provided, or a builtin CA stored by Kuma) signs with PKCS#1 v1.5.
 */

/** DER length octets (definite form, minimal). */
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

/** The header and content lengths of the TLV at `at`. */
function lengthsAt(der: Buffer, at: number): { header: number; content: number } {
  const first = der[at + 1]!;
  if (!(first & 0x80)) return { header: 2, content: first };
  let content = 0;
  for (let i = 0; i < (first & 0x7f); i++) content = content * 256 + der[at + 2 + i]!;
  return { header: 2 + (first & 0x7f), content };
}

/** A run of TLVs (a SEQUENCE's contents), each as its whole encoding. */
export function elementsOf(run: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < run.length; ) {
    const { header, content } = lengthsAt(run, at);
    out.push(run.subarray(at, at + header + content));
    at += header + content;
  }
  return out;
}

/** The contents of one TLV. */
export function contentsOf(element: Buffer): Buffer {
  const { header, content } = lengthsAt(element, 0);
  return element.subarray(header, header + content);
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

/** Extension subjectAltName (2.5.29.17), critical (an X509-SVID's subject is empty), one URI. */
function subjectAltNameUri(uri: string): Buffer {
  const names = tlv(0x30, tlv(0x86, Buffer.from(uri, 'ascii')));
  return tlv(0x30, Buffer.from('0603551d11', 'hex'), Buffer.from('0101ff', 'hex'), tlv(0x04, names));
}

const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const EMPTY_NAME = Buffer.from([0x30, 0x00]);
/** sha256WithRSAEncryption with NULL parameters. */
const SHA256_WITH_RSA = Buffer.from('300d06092a864886f70d01010b0500', 'hex');
/** ecdsa-with-SHA256, without parameters (RFC 5758 3.2). */
const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');

/** The CA's signing key: an RSA key, or a P-256 private scalar (32 bytes). Both pass to a worker thread. */
export type CaSigningKey = { rsa: KeyObject } | { p256: Uint8Array };

export interface LeafFields {
  /** 16 bytes, the first in 0x10–0x7f: a positive INTEGER of fixed length. */
  serial: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
  spiffeId: string;
}

/** What every leaf of one CA shares, DER-encoded: plain buffers and the key, so a worker thread can take them. */
export interface SvidTemplateParts {
  /** The CA's subject as the CA certificate encodes it: the leaves' issuer. */
  issuer: Buffer;
  /** basicConstraints, keyUsage and extendedKeyUsage, in that order. */
  fixedExtensions: Buffer;
  /** The authorityKeyIdentifier extension naming the CA's key. */
  aki: Buffer;
  caKey: CaSigningKey;
}

/** What every leaf of one CA shares, encoded once. */
export class SvidTemplate {
  private readonly sanOf = new Map<string, Buffer>();

  private readonly algorithm: Buffer;
  private readonly signature: (tbs: Buffer) => Buffer;

  constructor(readonly parts: SvidTemplateParts) {
    const key = parts.caKey;
    if ('rsa' in key) {
      this.algorithm = SHA256_WITH_RSA;
      this.signature = (tbs) => sign('sha256', tbs, key.rsa);
    } else {
      const d = Buffer.from(key.p256);
      this.algorithm = ECDSA_WITH_SHA256;
      this.signature = (tbs) => signP256Deterministic(d, tbs);
    }
  }

  private san(spiffeId: string): Buffer {
    let san = this.sanOf.get(spiffeId);
    if (!san) {
      san = subjectAltNameUri(spiffeId);
      if (this.sanOf.size >= 10_000) this.sanOf.clear();
      this.sanOf.set(spiffeId, san);
    }
    return san;
  }

  /** The signed certificate, DER. */
  issue(leaf: LeafFields): Buffer {
    const tbs = tlv(
      0x30,
      VERSION_3,
      tlv(0x02, leaf.serial),
      this.algorithm,
      this.parts.issuer,
      tlv(0x30, time(leaf.notBefore), time(leaf.notAfter)),
      EMPTY_NAME,
      leaf.spki,
      // Extensions in the order the library was given them before: the fixed ones, SAN, AKI.
      tlv(0xa3, tlv(0x30, this.parts.fixedExtensions, this.san(leaf.spiffeId), this.parts.aki)),
    );
    return tlv(0x30, tbs, this.algorithm, tlv(0x03, Buffer.from([0]), this.signature(tbs)));
  }
}

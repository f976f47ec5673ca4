import { createECDH, createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Deterministic ECDSA P-256 with SHA-256 (RFC 6979): the same key and message give the same
 * signature on every control plane, as the byte-identical certificates across instances need.
 * OpenSSL's ECDSA through node:crypto draws its nonce at random and has no deterministic mode
 * here, and a pure-JavaScript implementation (@noble/curves) took 0.63 ms a signature, slower than
 * RSA 2048. Here the nonce comes from RFC 6979's HMAC-DRBG (node's HMAC), the point k·G from
 * OpenSSL's scalar multiplication (an ECDH key's public point), and only the scalar arithmetic
 * mod n is BigInt. That arithmetic is not constant time; the inverse of k is blinded with a random
 * factor, so its timing says nothing of k.
 */

/** The order of P-256's base point. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const toBig = (bytes: Buffer): bigint => BigInt(`0x${bytes.toString('hex')}`);
const to32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
const mod = (a: bigint): bigint => ((a % P256_N) + P256_N) % P256_N;

/** a⁻¹ mod n by the extended Euclidean algorithm (without array destructuring, which cost a tenth more). */
function inverse(a: bigint): bigint {
  let r0 = mod(a);
  let r1 = P256_N;
  let s0 = 1n;
  let s1 = 0n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const s2 = s0 - q * s1;
    s0 = s1;
    s1 = s2;
  }
  return mod(s0);
}

/** DER INTEGER of a non-negative value. */
function derInteger(n: bigint): Buffer {
  let bytes = Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** One ECDH object, reused: constructing one per call cost as much as the multiplication. */
let multiplier: ReturnType<typeof createECDH> | undefined;
/** d·G, uncompressed (0x04, x, y), by OpenSSL: a leaf key's public point, or a signature's k·G. */
export function publicPoint(d: Buffer): Buffer {
  multiplier ??= createECDH('prime256v1');
  multiplier.setPrivateKey(d);
  return multiplier.getPublicKey();
}
const xOfMultiple = (k: Buffer): bigint => toBig(publicPoint(k).subarray(1, 33));

/** RFC 6979 3.2's nonces for key `x` and message hash `h1`, in order (the first in [1, n-1] is almost always it). */
function* nonces(x: Buffer, h1: Buffer): Generator<bigint> {
  const hmac = (key: Buffer, ...data: Buffer[]) => {
    const h = createHmac('sha256', key);
    for (const d of data) h.update(d);
    return h.digest();
  };
  const h = to32(mod(toBig(h1))); // bits2octets: qlen = hlen = 256
  let v = Buffer.alloc(32, 1);
  let k = Buffer.alloc(32, 0);
  k = hmac(k, v, Buffer.from([0]), x, h);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([1]), x, h);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const candidate = toBig(v);
    if (candidate >= 1n && candidate < P256_N) yield candidate;
    k = hmac(k, v, Buffer.from([0]));
    v = hmac(k, v);
  }
}

/** The signature of `message` by private scalar `d` (32 bytes), as the DER Ecdsa-Sig-Value X.509 carries. */
export function signP256Deterministic(d: Buffer, message: Buffer): Buffer {
  const { r, s } = signatureValues(d, createHash('sha256').update(message).digest());
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** r and s for a SHA-256 digest (exported for RFC 6979's test vectors). */
export function signatureValues(d: Buffer, h1: Buffer): { r: bigint; s: bigint } {
  const x = toBig(d);
  if (d.length !== 32 || x < 1n || x >= P256_N) throw new Error('a P-256 private scalar is 32 bytes in [1, n-1]');
  const e = mod(toBig(h1));
  for (const k of nonces(d, h1)) {
    const r = mod(xOfMultiple(to32(k)));
    if (r === 0n) continue;
    const blind = mod(toBig(randomBytes(32))) || 1n;
    const kInverse = mod(inverse(mod(k * blind)) * blind);
    const s = mod(kInverse * (e + r * x));
    if (s !== 0n) return { r, s };
  }
  throw new Error('unreachable: RFC 6979 yields nonces without end');
}

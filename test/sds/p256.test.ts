import assert from 'node:assert/strict';
import { createECDH, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { signatureValues, signP256Deterministic } from '../../src/sds/p256.js';

/** RFC 6979 A.2.5: the P-256 key and its SHA-256 signatures of "sample" and "test". */
const X = Buffer.from('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721', 'hex');
const VECTORS = [
  { message: 'sample', r: 'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716', s: 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8' },
  { message: 'test', r: 'F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367', s: '019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083' },
];

function publicKeyOf(d: Buffer) {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), ecdh.getPublicKey()]);
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

describe('deterministic ECDSA P-256', () => {
  it("gives RFC 6979's signatures for its test vectors", () => {
    for (const v of VECTORS) {
      const { r, s } = signatureValues(X, createHash('sha256').update(v.message).digest());
      assert.equal(r.toString(16).padStart(64, '0'), v.r.toLowerCase(), `${v.message}: r`);
      assert.equal(s.toString(16).padStart(64, '0'), v.s.toLowerCase(), `${v.message}: s`);
    }
  });

  it('signs what OpenSSL verifies, the same bytes every time, and refuses a scalar out of range', () => {
    const key = publicKeyOf(X);
    for (let i = 0; i < 50; i++) {
      const message = randomBytes(300 + i);
      const signature = signP256Deterministic(X, message);
      assert.ok(verify('sha256', message, key, signature), `signature ${i}`);
      assert.deepEqual(signP256Deterministic(X, message), signature);
      assert.ok(!verify('sha256', Buffer.concat([message, Buffer.from([0])]), key, signature), 'not for another message');
    }
    assert.throws(() => signP256Deterministic(Buffer.alloc(32), Buffer.from('x')), /32 bytes in \[1, n-1\]/);
    assert.throws(() => signP256Deterministic(Buffer.alloc(31, 1), Buffer.from('x')), /32 bytes in \[1, n-1\]/);
  });
});

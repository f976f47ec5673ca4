import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isAlreadyExists } from '../core/errors.js';
import type { ResourceKey, ResourceTypeName } from '../core/model.js';
import type { ResourceStore } from '../store/store.js';

/** A new RSA 2048 signing key as Kuma stores it: PKCS#1 PEM (`RSA PRIVATE KEY`). */
export function generateSigningKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'pkcs1', format: 'pem' } }).privateKey;
}

/** The public half of a PEM private key, as PKCS#1 PEM (`RSA PUBLIC KEY`), what `generate public-key` prints. */
export function publicKeyPemOf(privatePem: string): string {
  return createPublicKey(createPrivateKey(privatePem)).export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** Parses an RSA public key from PEM (PKCS#1 `RSA PUBLIC KEY` or SPKI `PUBLIC KEY`); throws on anything else. */
export function parseRsaPublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA public key, got ${key.asymmetricKeyType}`);
  return key;
}

const SERIAL = /^[0-9]{1,9}$/;

/**
 * Signing keys kept as secrets named `{prefix}-{serial}` (Kuma's scheme): the highest serial signs,
 * every present serial verifies, deleting a secret invalidates its tokens at once. Parsed keys are
 * cached per secret version, so a rotated or deleted key is noticed on the next use.
 */
export class SecretSigningKeys {
  private readonly cache = new Map<string, { version: number; privateKey: KeyObject; publicKey: KeyObject }>();

  constructor(
    private readonly store: ResourceStore,
    private readonly prefix: string,
    private readonly scope: { type: Extract<ResourceTypeName, 'GlobalSecret' | 'Secret'>; mesh: string } = { type: 'GlobalSecret', mesh: '' },
  ) {}

  private key(serial: string): ResourceKey {
    return { type: this.scope.type, mesh: this.scope.mesh, name: `${this.prefix}-${serial}` };
  }

  async serials(): Promise<number[]> {
    const { items } = await this.store.list(this.scope.type, { mesh: this.scope.type === 'Secret' ? this.scope.mesh : undefined, nameContains: `${this.prefix}-` });
    return items
      .filter((r) => r.name.startsWith(`${this.prefix}-`))
      .map((r) => r.name.slice(this.prefix.length + 1))
      .filter((s) => SERIAL.test(s))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Creates key 1 when there is none; true when this call created it (first start). */
  async ensure(): Promise<boolean> {
    if ((await this.serials()).length > 0) return false;
    try {
      await this.store.create({ ...this.key('1'), spec: { data: Buffer.from(generateSigningKeyPem()).toString('base64') } });
      return true;
    } catch (err) {
      if (isAlreadyExists(err)) return false; // another instance created it first
      throw err;
    }
  }

  private async load(serial: string): Promise<{ privateKey: KeyObject; publicKey: KeyObject } | undefined> {
    const secret = await this.store.get(this.key(serial));
    if (!secret) {
      this.cache.delete(serial);
      return undefined;
    }
    const cached = this.cache.get(serial);
    if (cached && cached.version === secret.version) return cached;
    const pem = Buffer.from(String(secret.spec.data ?? ''), 'base64').toString('utf8');
    const privateKey = createPrivateKey(pem);
    const entry = { version: secret.version, privateKey, publicKey: createPublicKey(privateKey) };
    this.cache.set(serial, entry);
    return entry;
  }

  /** The key that signs new tokens: the highest serial. */
  async signingKey(): Promise<{ kid: string; key: KeyObject } | undefined> {
    const serials = await this.serials();
    const highest = serials[serials.length - 1];
    if (highest === undefined) return undefined;
    const loaded = await this.load(String(highest));
    return loaded ? { kid: String(highest), key: loaded.privateKey } : undefined;
  }

  /** The public key for a `kid` that is a serial of a present secret; undefined otherwise. */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    if (!SERIAL.test(kid)) return undefined;
    return (await this.load(kid))?.publicKey;
  }
}

import { readFileSync } from 'node:fs';
import { isAlreadyExists } from '../core/errors.js';
import { builtinCaKeyType, type CaKeyType, type MtlsBackend } from '../core/resources/mesh.js';
import type { ResourceStore } from '../store/store.js';
import { generateMeshCa, loadCa, type KeyAndCert, type SigningCa } from './pki.js';
import { waitForLeaderWork } from '../store/wait-for-leader.js';

/** How long a follower waits for the leader to store a mesh's builtin CA. */
const CA_WAIT_MS = 15_000;

/** A mesh CA ready to sign, with the PEM proxies trust. */
export interface MeshCa extends SigningCa {
  certPem: string;
  /** Changes whenever the CA does (new backend, regenerated or re-provided secrets). */
  id: string;
}

export const builtinCertSecret = (mesh: string, backend: string) => `${mesh}.ca-builtin-cert-${backend}`;
export const builtinKeySecret = (mesh: string, backend: string) => `${mesh}.ca-builtin-key-${backend}`;

type Obj = Record<string, unknown>;
const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * Mesh CAs. A builtin CA is generated the first time a mesh with that backend needs it and kept as
 * mesh secrets `{mesh}.ca-builtin-cert-{backend}` / `{mesh}.ca-builtin-key-{backend}` (two control
 * planes racing both try to create them; the loser reads the winner's). A provided CA's certificate
 * and key come from the sources its `conf` names: `secret`, `inline` (base64), `inlineString` or
 * `file`. Loaded CAs are cached by the versions of the secrets they came from.
 */
export class MeshCaManager {
  private readonly cache = new Map<string, Promise<MeshCa>>();
  private readonly creating = new Map<string, Promise<void>>();

  /**
   * Builtin CA material read from the store, per mesh and backend: every certificate issued asks
   * for its CA, and reading two secrets each time cost 20,000 reads to turn mTLS on for 10,000
   * proxies. Any change of a Secret or Mesh (or a resync) forgets it.
   */
  private readonly materials = new Map<string, KeyAndCert & { version: string }>();
  /** Store reads of builtin CA material under way, so concurrent asks share one. */
  private readonly reading = new Map<string, Promise<KeyAndCert & { version: string }>>();
  private generation = 0;

  /** `isLeader`: whether this control plane generates missing builtin CAs; a follower waits for the leader's. */
  constructor(
    private readonly store: ResourceStore,
    private readonly isLeader: () => boolean = () => true,
  ) {
    store.subscribe((event) => {
      if (event.action === 'resync' || event.type === 'Secret' || event.type === 'Mesh') {
        this.generation++;
        this.materials.clear();
        this.reading.clear();
      }
    });
  }

  /** Generates and stores the builtin CA of a mesh backend when it has none (leader work). */
  async ensureBuiltin(mesh: string, backend: MtlsBackend): Promise<void> {
    await this.builtin(mesh, backend);
  }

  async get(mesh: string, backend: MtlsBackend): Promise<MeshCa> {
    const material = backend.type === 'builtin' ? await this.builtin(mesh, backend) : await this.provided(mesh, backend.conf);
    const key = `${mesh}/${backend.name}/${material.version}`;
    let ca = this.cache.get(key);
    if (!ca) {
      // Promises, so the many certificates asked for at once (mTLS turned on) load the CA once.
      ca = loadCa(material).then((loaded) => ({ ...loaded, certPem: material.certPem, id: key }));
      this.cache.set(key, ca);
      ca.catch(() => this.cache.delete(key));
    }
    return ca;
  }

  private async builtin(mesh: string, backendSpec: MtlsBackend): Promise<KeyAndCert & { version: string }> {
    const backend = backendSpec.name;
    const id = `${mesh}/${backend}`;
    const known = this.materials.get(id);
    if (known) return known;
    let reading = this.reading.get(id);
    if (!reading) {
      const generation = this.generation;
      reading = this.builtinFromStore(mesh, backend, builtinCaKeyType(backendSpec)).then((material) => {
        // Kept only if no change came in meanwhile: the read may predate it.
        if (generation === this.generation) this.materials.set(id, material);
        return material;
      });
      this.reading.set(id, reading);
      void reading.finally(() => this.reading.get(id) === reading && this.reading.delete(id)).catch(() => {});
    }
    return reading;
  }

  private async builtinFromStore(mesh: string, backend: string, keyType: CaKeyType): Promise<KeyAndCert & { version: string }> {
    const read = async () => {
      const cert = await this.store.get({ type: 'Secret', mesh, name: builtinCertSecret(mesh, backend) });
      const key = await this.store.get({ type: 'Secret', mesh, name: builtinKeySecret(mesh, backend) });
      return cert && key ? { certPem: Buffer.from(String(cert.spec.data), 'base64').toString(), keyPem: Buffer.from(String(key.spec.data), 'base64').toString(), version: `${cert.version}.${key.version}` } : undefined;
    };
    const existing = await read();
    if (existing) return existing;
    if (!this.isLeader()) {
      let found: Awaited<ReturnType<typeof read>>;
      await waitForLeaderWork(async () => (found = await read()) !== undefined, CA_WAIT_MS, `the builtin CA of mesh "${mesh}" backend "${backend}" is not created yet (the leader control plane creates it)`);
      return found!;
    }
    const id = `${mesh}/${backend}`;
    let pending = this.creating.get(id);
    if (!pending) {
      pending = (async () => {
        const ca = await generateMeshCa(mesh, undefined, keyType);
        // The key first, and the cert only by whoever stored that key: two writers (a leader
        // hand-over) can never pair one's key with the other's certificate.
        try {
          await this.store.create({ type: 'Secret', mesh, name: builtinKeySecret(mesh, backend), spec: { data: b64(ca.keyPem) } });
        } catch (err) {
          if (isAlreadyExists(err)) return;
          throw err;
        }
        await this.store.create({ type: 'Secret', mesh, name: builtinCertSecret(mesh, backend), spec: { data: b64(ca.certPem) } }).catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
      })().finally(() => this.creating.delete(id));
      this.creating.set(id, pending);
    }
    await pending;
    let created: Awaited<ReturnType<typeof read>>;
    await waitForLeaderWork(async () => (created = await read()) !== undefined, CA_WAIT_MS, `builtin CA of mesh "${mesh}" backend "${backend}" could not be stored`);
    return created!;
  }

  private async source(mesh: string, source: unknown, what: string): Promise<{ pem: string; version: string }> {
    if (typeof source !== 'object' || source === null) throw new Error(`provided CA: conf.${what} must name a secret, inline, inlineString or file`);
    const s = source as Obj;
    if (typeof s.secret === 'string') {
      const secret = await this.store.get({ type: 'Secret', mesh, name: s.secret });
      if (!secret) throw new Error(`provided CA: secret "${s.secret}" (conf.${what}) not found in mesh "${mesh}"`);
      return { pem: Buffer.from(String(secret.spec.data), 'base64').toString(), version: `${s.secret}@${secret.version}` };
    }
    if (typeof s.inline === 'string') return { pem: Buffer.from(s.inline, 'base64').toString(), version: `inline:${s.inline.length}` };
    if (typeof s.inlineString === 'string') return { pem: s.inlineString, version: `inlineString:${s.inlineString.length}` };
    if (typeof s.file === 'string') return { pem: readFileSync(s.file, 'utf8'), version: `file:${s.file}` };
    throw new Error(`provided CA: conf.${what} must name a secret, inline, inlineString or file`);
  }

  private async provided(mesh: string, conf: Obj): Promise<KeyAndCert & { version: string }> {
    const cert = await this.source(mesh, conf.cert, 'cert');
    const key = await this.source(mesh, conf.key, 'key');
    return { certPem: cert.pem, keyPem: key.pem, version: `${cert.version}|${key.version}` };
  }

  /** Checks a provided CA before a Mesh naming it is stored: found, a CA, and its key matches. */
  async checkProvided(mesh: string, conf: Obj): Promise<void> {
    await loadCa(await this.provided(mesh, conf));
  }
}

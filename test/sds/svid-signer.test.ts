import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { MeshCaManager } from '../../src/sds/mesh-ca.js';
import { generateMeshCa, loadCa } from '../../src/sds/pki.js';
import { inProcessSigner, WorkerSigner, type LeafRequest } from '../../src/sds/svid-signer.js';
import { svidProblems } from '../helpers/svid.js';

const WINDOW_START = Math.floor(Date.now() / 3600_000) * 3600_000;
const request = (i: number): LeafRequest => ({ spiffeId: `spiffe://default/svc-${i % 7}`, validForMs: 24 * 3600_000, holder: `default.dp-${i}`, windowStartMs: WINDOW_START + i * 1000 });

describe('certificate signing on worker threads', () => {
  it('issues on a worker the same bytes as on the event loop, for many requests at once and two CAs', async (t) => {
    const signer = new WorkerSigner(2);
    t.after(() => signer.close());
    assert.equal(signer.size, 0, 'no thread before the first certificate');
    const cas = [await loadCa(await generateMeshCa('default')), await loadCa(await generateMeshCa('default'))];
    const asked = Array.from({ length: 200 }, (_, i) => ({ caId: `ca-${i % 2}`, ca: cas[i % 2]!, request: request(i) }));
    const onWorkers = await Promise.all(asked.map((a) => signer.issue(a.caId, a.ca, a.request)));
    assert.equal(signer.size, 2);
    const here = await Promise.all(asked.map((a) => inProcessSigner.issue(a.caId, a.ca, a.request)));
    assert.deepEqual(onWorkers, here);
    assert.deepEqual(svidProblems(onWorkers[3]!.certPem, 'spiffe://default/svc-3'), []);
    assert.ok(new X509Certificate(onWorkers[3]!.certPem).verify(new X509Certificate(cas[1]!.cert.toString('pem')).publicKey), 'signed by its CA');
    assert.ok(!new X509Certificate(onWorkers[3]!.certPem).verify(new X509Certificate(cas[0]!.cert.toString('pem')).publicKey), 'not by the other');
  });

  it('hands what a dead worker had not answered to a new one, and signs on this thread after three losses in a minute', async (t) => {
    const lost: unknown[] = [];
    const signer = new WorkerSigner(1, (err) => lost.push(err));
    t.after(() => signer.close());
    const ca = await loadCa(await generateMeshCa('default'));
    const expected = await Promise.all(Array.from({ length: 150 }, (_, i) => inProcessSigner.issue('ca', ca, request(i))));
    const workers = () => (signer as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } }> }).workers;
    for (let round = 0; round < 3; round++) {
      const pending = Array.from({ length: 50 }, (_, i) => signer.issue('ca', ca, request(round * 50 + i)));
      // The worker dies with requests in flight.
      await workers()[0]!.worker.terminate();
      assert.deepEqual(await Promise.all(pending), expected.slice(round * 50, round * 50 + 50), `round ${round}: every request answered, and as signed here`);
      assert.equal(signer.size, round < 2 ? 1 : 0, round < 2 ? 'a new worker took over' : 'after the third loss, this thread signs');
    }
    assert.equal(lost.length, 3);
    assert.match(String(lost[0]), /the signing worker exited with code/);
    assert.deepEqual(await signer.issue('ca', ca, request(7)), expected[7]);
  });

  it('signs on this thread a few certificates a turn, so the event loop keeps serving', async () => {
    const signer = new WorkerSigner(0);
    const ca = await loadCa(await generateMeshCa('default'));
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const signed = await Promise.all(Array.from({ length: 64 }, (_, i) => signer.issue('ca', ca, request(i))));
    counting = false;
    assert.equal(signer.size, 0);
    assert.equal(signed.length, 64);
    assert.ok(turns >= 4, `the event loop turned ${turns} times while 64 certificates were signed`);
  });

  it('reports a request it cannot sign as an error, and goes on signing', async (t) => {
    const signer = new WorkerSigner(1);
    t.after(() => signer.close());
    const ca = await loadCa(await generateMeshCa('default'));
    await assert.rejects(signer.issue('ca', ca, { ...request(1), validForMs: Number.NaN }), /signing a certificate failed: /);
    assert.deepEqual(await signer.issue('ca', ca, request(2)), await inProcessSigner.issue('ca', ca, request(2)));
  });

  it('keeps no process alive once idle', async () => {
    // A process that issues one certificate on a worker, closes nothing and lets the worker's
    // thread come up and go idle while it waits must still exit by itself.
    const modules = ['pki', 'svid-signer'].map((m) => new URL(`../../src/sds/${m}.js`, import.meta.url).href);
    const script = `import { generateMeshCa, loadCa } from '${modules[0]}'; import { WorkerSigner } from '${modules[1]}';
      const signer = new WorkerSigner(1); const ca = await loadCa(await generateMeshCa('default'));
      const svid = await signer.issue('ca', ca, { spiffeId: 'spiffe://default/web', validForMs: 3600000, holder: 'default.web-1', windowStartMs: Date.now() });
      await new Promise((r) => setTimeout(r, 500));
      console.log(svid.certPem.startsWith('-----BEGIN CERTIFICATE-----'));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    assert.equal(stdout.trim(), 'true');
  });

  it('loads a mesh CA once for many certificates asked for at once (mTLS turned on for a mesh)', async () => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    const cas = new MeshCaManager(store);
    const backend = { name: 'ca-1', type: 'builtin' as const, certValidityMs: 24 * 3600_000, conf: {} };
    await cas.ensureBuiltin('default', backend);
    let reads = 0;
    const get = store.get.bind(store);
    store.get = (key) => {
      reads++;
      return get(key);
    };
    const all = await Promise.all(Array.from({ length: 100 }, () => cas.get('default', backend)));
    assert.ok(all.every((ca) => ca === all[0]), 'one loaded CA');
    assert.equal(reads, 2, 'its two secrets read once');
  });

  it("generates a builtin CA with ECDSA P-256, or with RSA when the backend's conf.caCert.RSAbits asks for it", async () => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    const cas = new MeshCaManager(store);
    const p256 = { name: 'ca-1', type: 'builtin' as const, certValidityMs: 24 * 3600_000, conf: {} };
    const rsa = { name: 'ca-rsa', type: 'builtin' as const, certValidityMs: 24 * 3600_000, conf: { caCert: { RSAbits: 3072 } } };
    const keyOf = async (backend: typeof p256 | typeof rsa) => new X509Certificate((await cas.get('default', backend)).certPem).publicKey;
    const ec = await keyOf(p256);
    assert.equal(ec.asymmetricKeyType, 'ec');
    assert.equal(ec.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const big = await keyOf(rsa);
    assert.equal(big.asymmetricKeyType, 'rsa');
    assert.equal(big.asymmetricKeyDetails?.modulusLength, 3072);
    // Each signs leaves that verify against it.
    for (const backend of [p256, rsa]) {
      const ca = await cas.get('default', backend);
      const svid = await inProcessSigner.issue(ca.id, ca, { spiffeId: 'spiffe://default/web', validForMs: 3600_000, holder: 'default.web-1', windowStartMs: Date.now() });
      assert.ok(new X509Certificate(svid.certPem).verify(new X509Certificate(ca.certPem).publicKey), backend.name);
    }
  });
});

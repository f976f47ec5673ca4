import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { Reconciler } from '../../src/xds/reconciler.js';
import type { ProxyIdentityMaterial } from '../../src/xds/generators/types.js';
import { TYPE_URLS } from '../../src/xds/resources.js';

describe('reconciler', () => {
  it('schedules no retry once closed, even for a reconcile that fails after it was closed', async () => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    await store.create({ type: 'Dataplane', mesh: 'default', name: 'web-1', spec: { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } } });
    const reconciler = new Reconciler(store, new SnapshotCache(), pino({ level: 'silent' }));
    await reconciler.connect({ nodeId: 'default.web-1', mesh: 'default', name: 'web-1', proxyless: false });

    // From now on every read fails, 50 ms after it is asked (as a store going down does).
    let reads = 0;
    store.get = () => {
      reads++;
      return new Promise((_, reject) => setTimeout(() => reject(new StoreUnavailableError('the store is down')), 50));
    };
    await store.create({ type: 'Dataplane', mesh: 'default', name: 'web-2', spec: { networking: { address: '10.0.0.2', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } } });
    for (let waited = 0; reads === 0 && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    assert.equal(reads, 1, 'the change started a reconcile, which is reading');
    reconciler.close(); // while that read is pending: it fails after the close
    await new Promise((r) => setTimeout(r, 700)); // the first retry would come 100 ms after the failure
    assert.equal(reads, 1, 'no retry after close');
  });

  it('regenerates after a Secret change only the proxies whose identity it changed', async () => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } });
    for (const [name, address] of [['web-1', '10.0.0.1'], ['web-2', '10.0.0.2']]) {
      await store.create({ type: 'Dataplane', mesh: 'default', name: name!, spec: { networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } } });
    }
    const material = (cert: string): ProxyIdentityMaterial => ({ spiffeId: 'spiffe://default/web', certPem: cert, keyPem: 'key', caPem: 'ca' });
    // Each proxy's current identity, as an issuer keeps it: the same object until it is reissued.
    const current = new Map([
      ['default.web-1', material('first')],
      ['default.web-2', material('first')],
    ]);
    let asked = 0;
    const generated: number[] = [];
    const cache = new SnapshotCache();
    const reconciler = new Reconciler(store, cache, pino({ level: 'silent' }), 5, () => generated.push(1));
    reconciler.useIdentities({ identityFor: async (nodeId) => (asked++, current.get(nodeId)), forget: () => {} });
    await reconciler.connect({ nodeId: 'default.web-1', mesh: 'default', name: 'web-1', proxyless: false });
    await reconciler.connect({ nodeId: 'default.web-2', mesh: 'default', name: 'web-2', proxyless: false });
    assert.equal(generated.length, 2);

    // The CA stored after mTLS was turned on (as the leader does): the identities stay the same.
    const askedBefore = asked;
    await store.create({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1', spec: { data: 'Y2E=' } });
    await reconciler.settled();
    assert.ok(asked >= askedBefore + 2, 'both proxies had their identity asked again');
    assert.equal(generated.length, 2, 'neither proxy regenerated');

    // A CA change that reissues web-2's certificate: web-2 alone is regenerated, with the new one.
    current.set('default.web-2', material('second'));
    const stored = await store.get({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1' });
    await store.update({ type: 'Secret', mesh: 'default', name: 'default.ca-builtin-cert-ca-1', spec: { data: 'Y2Ey' } }, stored!.version);
    await reconciler.settled();
    assert.equal(generated.length, 3, 'one proxy regenerated');
    const secrets = (node: string) => [...(cache.get(node)?.resources.get(TYPE_URLS.secret)?.values() ?? [])].map((r) => r.any.value.toString('latin1'));
    assert.ok(secrets('default.web-2').some((bytes) => bytes.includes('second')), "web-2 has its new certificate");
    assert.ok(secrets('default.web-1').some((bytes) => bytes.includes('first')), 'web-1 kept its certificate');
    reconciler.close();
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { Reconciler } from '../../src/xds/reconciler.js';

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
});

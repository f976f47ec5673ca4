import assert from 'node:assert/strict';
import { describe, it, after, beforeEach } from 'node:test';
import { AlreadyExistsError, ConflictError, InvalidError, NotFoundError } from '../../src/core/errors.js';
import type { Resource } from '../../src/core/model.js';
import { CheckedStore } from '../../src/store/decorators.js';
import type { ResourceChangeEvent as ChangeEvent, ResourceStore } from '../../src/store/store.js';

export interface StoreUnderTest {
  store: ResourceStore;
  /** Releases what the factory created (files, schemas, connections). */
  cleanup(): Promise<void>;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

const mesh = (name: string): Resource => ({ type: 'Mesh', mesh: '', name, spec: {} });
const dataplane = (meshName: string, name: string, service = 'backend', port = 8080): Resource => ({
  type: 'Dataplane',
  mesh: meshName,
  name,
  spec: { networking: { address: '10.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service } }] } },
});

/**
 * The one behavioural contract of ResourceStore, run against every backend (memory, SQLite,
 * Postgres) through the checking decorator, as the control plane uses them.
 */
export function storeConformance(backend: string, factory: StoreFactory, skipReason?: string): void {
  describe(`ResourceStore conformance: ${backend}`, { skip: skipReason ?? false }, () => {
    let sut: StoreUnderTest | undefined;
    let store: ResourceStore;

    beforeEach(async () => {
      if (sut) await sut.cleanup();
      sut = await factory();
      store = new CheckedStore(sut.store);
      await store.create(mesh('default'));
    });

    after(async () => {
      if (sut) await sut.cleanup();
    });

    it('creates and reads back a resource with version 1 and timestamps', async () => {
      const before = Date.now();
      const created = await store.create(dataplane('default', 'dp-1'));
      assert.equal(created.version, 1);
      assert.equal(created.creationTime, created.modificationTime);
      assert.ok(Date.parse(created.creationTime) >= before - 1000);
      const read = await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' });
      assert.ok(read);
      assert.deepEqual(read.spec, dataplane('default', 'dp-1').spec);
      assert.equal(read.version, 1);
      assert.equal(read.creationTime, created.creationTime);
    });

    it('writeMany applies creates and updates in one batch, each failing on its own, with change events after', async () => {
      const existing = await store.create(dataplane('default', 'dp-1'));
      await store.create(dataplane('default', 'dp-2'));
      const events: ChangeEvent[] = [];
      const stop = store.subscribe((e) => void (e.action !== 'resync' && events.push(e)));
      const results = await store.writeMany([
        { op: 'create', resource: dataplane('default', 'new-1', 'web') },
        { op: 'create', resource: dataplane('default', 'dp-1') }, // exists
        { op: 'update', resource: dataplane('default', 'dp-1', 'web'), expectedVersion: existing.version },
        { op: 'update', resource: dataplane('default', 'dp-2', 'web'), expectedVersion: 7 }, // stale
        { op: 'update', resource: dataplane('default', 'ghost'), expectedVersion: 1 }, // missing
        { op: 'create', resource: dataplane('nomesh', 'x') }, // mesh missing
        { op: 'create', resource: dataplane('default', 'new-2') },
      ]);
      stop();
      assert.equal(results.length, 7);
      assert.ok(results[0] && !(results[0] instanceof Error) && results[0].version === 1);
      assert.ok(results[1] instanceof AlreadyExistsError);
      assert.ok(results[2] && !(results[2] instanceof Error) && results[2].version === 2);
      assert.ok(results[3] instanceof ConflictError);
      assert.ok(results[4] instanceof NotFoundError);
      assert.ok(results[5] instanceof InvalidError);
      assert.ok(results[6] && !(results[6] instanceof Error) && results[6].name === 'new-2');
      assert.deepEqual(
        events.map((e) => `${e.action} ${e.name}`),
        ['create new-1', 'update dp-1', 'create new-2'],
      );
      assert.equal(((await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' }))?.spec as any).networking.inbound[0].tags['kuma.io/service'], 'web');
      assert.equal((await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-2' }))?.version, 1, 'a failed write changed nothing');
      assert.ok(await store.get({ type: 'Dataplane', mesh: 'default', name: 'new-2' }), 'writes after a failure still commit');
      assert.deepEqual(await store.writeMany([]), []);
    });

    it('returns undefined for a missing resource', async () => {
      assert.equal(await store.get({ type: 'Dataplane', mesh: 'default', name: 'nope' }), undefined);
      assert.equal(await store.get({ type: 'Mesh', mesh: '', name: 'nope' }), undefined);
    });

    it('rejects a duplicate create', async () => {
      await store.create(dataplane('default', 'dp-1'));
      await assert.rejects(store.create(dataplane('default', 'dp-1')), AlreadyExistsError);
    });

    it('rejects a mesh-scoped create whose mesh does not exist, naming the mesh field', async () => {
      await assert.rejects(store.create(dataplane('ghost', 'dp-1')), (err: unknown) => {
        assert.ok(err instanceof InvalidError);
        assert.equal(err.causes[0]?.field, 'mesh');
        return true;
      });
      assert.equal(await store.get({ type: 'Dataplane', mesh: 'ghost', name: 'dp-1' }), undefined);
    });

    it('keeps the same name apart across meshes and types', async () => {
      await store.create(mesh('other'));
      await store.create(dataplane('default', 'same'));
      await store.create(dataplane('other', 'same', 'web'));
      await store.create({ type: 'Secret', mesh: 'default', name: 'same', spec: { data: 'YQ==' } });
      await store.create({ type: 'GlobalSecret', mesh: '', name: 'same', spec: { data: 'Yg==' } });
      const a = await store.get({ type: 'Dataplane', mesh: 'other', name: 'same' });
      assert.equal((a?.spec as { networking: { inbound: Array<{ tags: Record<string, string> }> } }).networking.inbound[0]!.tags['kuma.io/service'], 'web');
      assert.deepEqual((await store.get({ type: 'GlobalSecret', mesh: '', name: 'same' }))?.spec, { data: 'Yg==' });
      assert.deepEqual((await store.get({ type: 'Secret', mesh: 'default', name: 'same' }))?.spec, { data: 'YQ==' });
    });

    it('updates with the current version and bumps it; creationTime stays', async () => {
      const created = await store.create(dataplane('default', 'dp-1'));
      await new Promise((r) => setTimeout(r, 5));
      const updated = await store.update(dataplane('default', 'dp-1', 'web'), 1);
      assert.equal(updated.version, 2);
      assert.equal(updated.creationTime, created.creationTime);
      assert.ok(Date.parse(updated.modificationTime) > Date.parse(created.creationTime));
      const read = await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' });
      assert.equal(read?.version, 2);
      assert.deepEqual(read?.spec, dataplane('default', 'dp-1', 'web').spec);
    });

    it('rejects an update with a stale version and leaves the stored one unchanged', async () => {
      await store.create(dataplane('default', 'dp-1'));
      await store.update(dataplane('default', 'dp-1', 'web'), 1);
      await assert.rejects(store.update(dataplane('default', 'dp-1', 'stale'), 1), ConflictError);
      const read = await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' });
      assert.equal(read?.version, 2);
      assert.deepEqual(read?.spec, dataplane('default', 'dp-1', 'web').spec);
    });

    it('lets exactly one of two concurrent updates of the same version win', async () => {
      await store.create(dataplane('default', 'dp-1'));
      const results = await Promise.allSettled([
        store.update(dataplane('default', 'dp-1', 'a'), 1),
        store.update(dataplane('default', 'dp-1', 'b'), 1),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(rejected.reason instanceof ConflictError);
    });

    it('rejects an update of a missing resource with NotFound', async () => {
      await assert.rejects(store.update(dataplane('default', 'ghost'), 1), NotFoundError);
    });

    it('deletes, and rejects deleting what is not there', async () => {
      await store.create(dataplane('default', 'dp-1'));
      await store.delete({ type: 'Dataplane', mesh: 'default', name: 'dp-1' });
      assert.equal(await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' }), undefined);
      await assert.rejects(store.delete({ type: 'Dataplane', mesh: 'default', name: 'dp-1' }), NotFoundError);
      await assert.rejects(store.delete({ type: 'Mesh', mesh: '', name: 'ghost' }), NotFoundError);
    });

    it('deletes everything in a mesh with the mesh, and nothing of other meshes', async () => {
      await store.create(mesh('doomed'));
      await store.create(dataplane('doomed', 'dp-1'));
      await store.create({ type: 'Secret', mesh: 'doomed', name: 's', spec: { data: 'YQ==' } });
      await store.create(dataplane('default', 'dp-1'));
      await store.create({ type: 'GlobalSecret', mesh: '', name: 'g', spec: { data: 'YQ==' } });
      await store.delete({ type: 'Mesh', mesh: '', name: 'doomed' });
      assert.equal(await store.get({ type: 'Mesh', mesh: '', name: 'doomed' }), undefined);
      assert.equal((await store.list('Dataplane', { mesh: 'doomed' })).total, 0);
      assert.equal((await store.list('Secret', { mesh: 'doomed' })).total, 0);
      assert.ok(await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' }));
      assert.ok(await store.get({ type: 'GlobalSecret', mesh: '', name: 'g' }));
      // The mesh can be created again, empty.
      await store.create(mesh('doomed'));
      assert.equal((await store.list('Dataplane', { mesh: 'doomed' })).total, 0);
    });

    it('lists by type and mesh in (mesh, name) order, with total and paging', async () => {
      await store.create(mesh('m2'));
      for (const name of ['c', 'a', 'b', 'e', 'd']) await store.create(dataplane('default', `dp-${name}`));
      await store.create(dataplane('m2', 'dp-a'));
      const all = await store.list('Dataplane');
      assert.equal(all.total, 6);
      assert.deepEqual(all.items.map((r) => `${r.mesh}/${r.name}`), ['default/dp-a', 'default/dp-b', 'default/dp-c', 'default/dp-d', 'default/dp-e', 'm2/dp-a']);
      const inDefault = await store.list('Dataplane', { mesh: 'default', offset: 1, size: 2 });
      assert.equal(inDefault.total, 5);
      assert.deepEqual(inDefault.items.map((r) => r.name), ['dp-b', 'dp-c']);
      const last = await store.list('Dataplane', { mesh: 'default', offset: 4, size: 2 });
      assert.deepEqual(last.items.map((r) => r.name), ['dp-e']);
      const beyond = await store.list('Dataplane', { mesh: 'default', offset: 10, size: 2 });
      assert.equal(beyond.total, 5);
      assert.deepEqual(beyond.items, []);
      assert.equal((await store.list('Dataplane', { mesh: 'nope' })).total, 0);
      assert.equal((await store.list('TrafficRoute')).total, 0);
    });

    it('filters by name substring, case-sensitively, treating LIKE wildcards literally', async () => {
      for (const name of ['web-1', 'web-2', 'backend-1', 'a_b', 'axb']) await store.create(dataplane('default', name));
      assert.deepEqual((await store.list('Dataplane', { nameContains: 'WEB' })).items, []);
      assert.deepEqual((await store.list('Dataplane', { nameContains: 'web' })).items.map((r) => r.name), ['web-1', 'web-2']);
      assert.deepEqual((await store.list('Dataplane', { nameContains: '_' })).items.map((r) => r.name), ['a_b']);
      assert.deepEqual((await store.list('Dataplane', { nameContains: '%' })).items, []);
    });

    it('applies a predicate before paging', async () => {
      for (let i = 0; i < 6; i++) await store.create(dataplane('default', `dp-${i}`, i % 2 ? 'odd' : 'even', 8000 + i));
      const odd = (r: { spec: Record<string, unknown> }) => JSON.stringify(r.spec).includes('"odd"');
      const page = await store.list('Dataplane', { predicate: odd, offset: 1, size: 1 });
      assert.equal(page.total, 3);
      assert.deepEqual(page.items.map((r) => r.name), ['dp-3']);
    });

    it('does not alias the caller’s spec object', async () => {
      const input = dataplane('default', 'dp-1');
      await store.create(input);
      (input.spec.networking as { address: string }).address = '10.9.9.9';
      const read = await store.get({ type: 'Dataplane', mesh: 'default', name: 'dp-1' });
      assert.equal((read?.spec.networking as { address: string }).address, '10.0.0.1');
    });

    it('round-trips unicode, nested structures and large specs', async () => {
      const spec = { data: Buffer.from('ü✓'.repeat(20000)).toString('base64') };
      await store.create({ type: 'Secret', mesh: 'default', name: 'big', spec });
      assert.deepEqual((await store.get({ type: 'Secret', mesh: 'default', name: 'big' }))?.spec, spec);
    });

    it('feeds committed changes to subscribers, including cascaded deletes, until unsubscribed', async () => {
      const events: ChangeEvent[] = [];
      const unsubscribe = store.subscribe((e) => void (e.action !== 'resync' && events.push(e)));
      await store.create(mesh('feed'));
      await store.create(dataplane('feed', 'dp-1'));
      await store.update(dataplane('feed', 'dp-1', 'web'), 1);
      await assert.rejects(store.update(dataplane('feed', 'dp-1', 'x'), 1)); // failed writes emit nothing
      await store.delete({ type: 'Mesh', mesh: '', name: 'feed' });
      unsubscribe();
      await store.create(mesh('after'));
      assert.deepEqual(
        events.map((e) => `${e.action} ${e.type} ${e.mesh}/${e.name}`),
        ['create Mesh /feed', 'create Dataplane feed/dp-1', 'update Dataplane feed/dp-1', 'delete Mesh /feed', 'delete Dataplane feed/dp-1'],
      );
    });

    it('tags the change event of a write with its rollout, and not the cascaded deletes of a Mesh', async () => {
      const events: ChangeEvent[] = [];
      const unsubscribe = store.subscribe((e) => void (e.action !== 'resync' && events.push(e)));
      await store.create(mesh('tagged'), { rollout: 'r-create' });
      await store.create(dataplane('tagged', 'dp-1'));
      await store.update(dataplane('tagged', 'dp-1', 'web'), 1, { rollout: 'r-update' });
      await store.delete({ type: 'Mesh', mesh: '', name: 'tagged' }, { rollout: 'r-delete' });
      unsubscribe();
      assert.deepEqual(
        events.map((e) => `${e.action} ${e.type} ${e.name} ${('rollout' in e && e.rollout) || '-'}`),
        ['create Mesh tagged r-create', 'create Dataplane dp-1 -', 'update Dataplane dp-1 r-update', 'delete Mesh tagged r-delete', 'delete Dataplane dp-1 -'],
      );
    });

    it('isolates a throwing subscriber from the writer and other subscribers', async () => {
      const seen: string[] = [];
      const off1 = store.subscribe(() => {
        throw new Error('listener bug');
      });
      const off2 = store.subscribe((e) => void (e.action !== 'resync' && seen.push(e.name)));
      await store.create(dataplane('default', 'dp-1'));
      off1();
      off2();
      assert.deepEqual(seen, ['dp-1']);
    });

    it('rejects malformed keys before touching the backend', async () => {
      await assert.rejects(store.get({ type: 'Dataplane', mesh: '', name: 'x' }), InvalidError);
      await assert.rejects(store.get({ type: 'Mesh', mesh: 'default', name: 'x' }), InvalidError);
      await assert.rejects(store.create({ type: 'Nope' as 'Mesh', mesh: '', name: 'x', spec: {} }), InvalidError);
      await assert.rejects(store.list('Dataplane', { offset: -1 }), InvalidError);
      await assert.rejects(store.update(dataplane('default', 'x'), 0), InvalidError);
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}

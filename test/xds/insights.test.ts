import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { InsightRecorder } from '../../src/xds/insights.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import type { StreamInfo } from '../../src/xds/server/sotw-stream.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

type Json = Record<string, any>;

const dataplane = (address: string, service: string, outbound: string[] = []) => ({
  networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service } }], outbound: outbound.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('DataplaneInsight and the inspect endpoint', () => {
  it('records each subscription with per-type counts, shows online/offline, and serves what it sent', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL: '100ms' });
    await cp.put('/meshes/default/dataplanes/web-1', dataplane('10.0.0.1', 'web', ['backend']));
    await cp.put('/meshes/default/dataplanes/backend-1', dataplane('10.0.0.2', 'backend'));
    const get = (path: string) => fetch(cp.api + path).then((r) => r.json() as Promise<Json>);

    const before = await get('/meshes/default/dataplanes+insights/web-1');
    assert.equal(before.online, false);
    assert.deepEqual(before.dataplaneInsight, { subscriptions: [] });

    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    client.request(TYPE_URLS.cluster);
    const cds = await client.expect(TYPE_URLS.cluster);
    client.ack(cds);
    client.request(TYPE_URLS.endpoint, ['backend']);
    const eds = await client.expect(TYPE_URLS.endpoint);
    client.nack(eds, '', ['backend'], 'test says no');
    client.request(TYPE_URLS.listener);
    const lds = await client.expect(TYPE_URLS.listener);
    client.ack(lds);

    const overview = await eventually(
      () => get('/meshes/default/dataplanes+insights/web-1'),
      (o) => o.dataplaneInsight.subscriptions[0]?.status?.lds?.responsesAcknowledged === '1' && o.dataplaneInsight.subscriptions[0]?.status?.eds?.responsesRejected === '1',
    );
    assert.equal(overview.online, true);
    const sub = overview.dataplaneInsight.subscriptions[0];
    assert.match(sub.connectTime, /^\d{4}-/);
    assert.equal(typeof sub.controlPlaneInstanceId, 'string');
    assert.equal(sub.disconnectTime, undefined);
    assert.deepEqual(sub.status.total, { responsesSent: '3', responsesAcknowledged: '2', responsesRejected: '1' });
    assert.deepEqual(sub.status.cds, { responsesSent: '1', responsesAcknowledged: '1' });
    assert.deepEqual(sub.status.eds, { responsesSent: '1', responsesRejected: '1' });
    assert.deepEqual(sub.status.rds, {});
    const listed = await get('/meshes/default/dataplanes+insights');
    assert.deepEqual(listed.items.map((i: Json) => [i.name, i.online]), [['backend-1', false], ['web-1', true]]);

    const inspected = await get('/meshes/default/dataplanes/web-1/xds');
    assert.equal(inspected.connected, true);
    assert.equal(inspected.resources.cds.backend.resource.type, 'EDS');
    assert.equal(typeof inspected.resources.cds.backend.version, 'string');
    assert.equal(inspected.resources.lds['outbound:127.0.0.1:10001'].resource.name, 'outbound:127.0.0.1:10001');
    assert.equal(inspected.streams.length, 1);
    assert.equal(inspected.streams[0].types.eds.lastNack.message, 'test says no');
    assert.equal(inspected.streams[0].types.cds.lastAckedVersion, cds.version_info);
    assert.equal((await get('/meshes/default/dataplanes/backend-1/xds')).connected, false);
    assert.equal((await fetch(cp.api + '/meshes/default/dataplanes/ghost/xds')).status, 404);

    client.close();
    const after = await eventually(() => get('/meshes/default/dataplanes+insights/web-1'), (o) => o.online === false);
    assert.equal(after.online, false);
    assert.match(after.dataplaneInsight.subscriptions[0].disconnectTime, /^\d{4}-/);

    // The insight goes with its dataplane.
    assert.equal(await cp.del('/meshes/default/dataplanes/web-1'), 200);
    const gone = await eventually(() => cp.cp.store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'web-1' }), (v) => v === undefined);
    assert.equal(gone, undefined);
  });

  it('keeps the subscription history across flushes: closed streams, reconnects and other instances', async (t) => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    await store.create({ type: 'Dataplane', mesh: 'default', name: 'web-1', spec: dataplane('10.0.0.1', 'web') });
    // Another instance served this proxy before.
    const elsewhere = { id: 'cp-2-7', controlPlaneInstanceId: 'cp-2', connectTime: '2026-01-01T00:00:00.000Z', disconnectTime: '2026-01-01T00:01:00.000Z', status: {} };
    await store.create({ type: 'DataplaneInsight', mesh: 'default', name: 'web-1', spec: { subscriptions: [elsewhere] } });
    const recorder = new InsightRecorder(store, 'cp-1', 60_000, pino({ level: 'silent' }));
    t.after(() => recorder.close());
    const identity = { nodeId: 'default.web-1', mesh: 'default', name: 'web-1', proxyless: false };
    const first: StreamInfo = { id: '1', protocol: 'sotw', identity, allowPrivateKeys: true, secretsOnly: false };
    const second: StreamInfo = { ...first, id: '2' };
    const subscriptions = async () => ((await store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'web-1' }))!.spec.subscriptions as Json[]);

    recorder.onStreamOpen(first);
    recorder.onResponse(first, TYPE_URLS.cluster, 'c1');
    await recorder.flush();
    recorder.onAck(first, TYPE_URLS.cluster, 'c1');
    await recorder.flush();
    // A reconnect between two flushes: the closed stream and the new one are written together.
    recorder.onStreamClose(first);
    recorder.onStreamOpen(second);
    recorder.onResponse(second, TYPE_URLS.cluster, 'c2');
    await recorder.flush();
    recorder.onAck(second, TYPE_URLS.cluster, 'c2');
    await recorder.flush();

    const subs = await subscriptions();
    assert.deepEqual(subs.map((s) => s.id), ['cp-2-7', 'cp-1-1', 'cp-1-2']);
    assert.deepEqual(subs[0], elsewhere);
    assert.match(subs[1]!.disconnectTime, /^\d{4}-/);
    assert.deepEqual(subs[1]!.status.total, { responsesSent: '1', responsesAcknowledged: '1' });
    assert.equal(subs[2]!.disconnectTime, undefined);
    assert.deepEqual(subs[2]!.status.cds, { responsesSent: '1', responsesAcknowledged: '1' });
  });

  it('holds status writes while a push is being ACKed, for at most ten intervals', async (t) => {
    const store = new MemoryStore();
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    for (const name of ['web-1', 'web-2']) await store.create({ type: 'Dataplane', mesh: 'default', name, spec: dataplane('10.0.0.1', 'web') });
    const recorder = new InsightRecorder(store, 'cp-1', 50, pino({ level: 'silent' }));
    t.after(() => recorder.close());
    const stream: StreamInfo = { id: '1', protocol: 'sotw', identity: { nodeId: 'default.web-1', mesh: 'default', name: 'web-1', proxyless: false }, allowPrivateKeys: true, secretsOnly: false };
    const written = () => store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'web-1' });
    recorder.onStreamOpen(stream);
    // A response every 20 ms, none ACKed: a push in flight.
    const sending = setInterval(() => recorder.onResponse(stream, TYPE_URLS.endpoint, 'v1'), 20);
    t.after(() => clearInterval(sending));
    recorder.onResponse(stream, TYPE_URLS.endpoint, 'v1');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await written(), undefined, 'nothing written while the push is unanswered');
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(sending);
    assert.ok(await written(), 'written after ten intervals even though the push never ends');

    recorder.onAck(stream, TYPE_URLS.endpoint, 'v1');
    const other: StreamInfo = { ...stream, id: '2', identity: { ...stream.identity, nodeId: 'default.web-2', name: 'web-2' } };
    recorder.onStreamOpen(other);
    recorder.onResponse(other, TYPE_URLS.cluster, 'c1');
    recorder.onAck(other, TYPE_URLS.cluster, 'c1');
    await eventually(() => store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'web-2' }), (r) => r !== undefined, 2000);
    assert.ok(await store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'web-2' }), 'with every response answered, the next interval writes');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

/** `name_count` of a Prometheus text exposition. */
function count(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}_count`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('xDS metrics on /metrics', () => {
  it('records xds_generation per generated proxy and xds_delivery once a change is ACKed', async (t) => {
    const cp = await startTestControlPlane(t);
    const metrics = () => fetch(`http://127.0.0.1:${cp.cp.diagnosticsPort}/metrics`).then((r) => r.text());
    await cp.put('/meshes/default/dataplanes/web-1', { networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } });
    await cp.put('/meshes/default/dataplanes/backend-1', { networking: { address: '10.0.0.2', inbound: [{ port: 80, tags: { 'kuma.io/service': 'backend' } }] } });
    const before = await metrics();
    assert.match(before, /# TYPE xds_generation histogram/);
    assert.match(before, /# TYPE xds_delivery histogram/);
    assert.equal(count(before, 'xds_delivery'), 0);

    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    client.request(TYPE_URLS.cluster);
    const cds = await client.expect(TYPE_URLS.cluster);
    client.request(TYPE_URLS.endpoint, ['backend']);
    const eds = await client.expect(TYPE_URLS.endpoint);
    client.ack(cds);
    client.ack(eds, ['backend']);
    await new Promise((r) => setTimeout(r, 100));
    const synced = await metrics();
    assert.ok(count(synced, 'xds_generation') >= 1, 'the connection generated a configuration');
    assert.equal(count(synced, 'xds_delivery'), 1, 'the initial configuration was delivered once every type sent was ACKed');

    // A new backend instance: web-1 is regenerated and gets new endpoints.
    await cp.put('/meshes/default/dataplanes/backend-2', { networking: { address: '10.0.0.3', inbound: [{ port: 80, tags: { 'kuma.io/service': 'backend' } }] } });
    const update = await client.expect(TYPE_URLS.endpoint);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(count(await metrics(), 'xds_delivery'), 1, 'not delivered before the ACK');
    client.ack(update, ['backend']);
    await new Promise((r) => setTimeout(r, 100));
    const after = await metrics();
    assert.equal(count(after, 'xds_delivery'), 2);
    assert.ok(count(after, 'xds_generation') > count(synced, 'xds_generation'));
  });
});

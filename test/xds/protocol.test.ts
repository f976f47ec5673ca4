import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { DeltaClient, SotwClient, type Response } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

/**
 * Envoy's xDS protocol rules, checked with a client that behaves like Envoy (wildcard LDS/CDS,
 * EDS/RDS by name, ACK, NACK, reconnect with versions), over real gRPC.
 */
const { cluster: CDS, endpoint: EDS, listener: LDS, route: RDS } = TYPE_URLS;

const dp = (address: string, port: number, service: string, protocol = 'http', outbound: Array<{ port: number; service: string }> = []) => ({
  networking: {
    address,
    inbound: [{ port, servicePort: 8080, tags: { 'kuma.io/service': service, 'kuma.io/protocol': protocol } }],
    outbound: outbound.map((o) => ({ port: o.port, tags: { 'kuma.io/service': o.service } })),
  },
});

async function meshWithWeb(t: Parameters<typeof startTestControlPlane>[0]): Promise<TestControlPlane> {
  const cp = await startTestControlPlane(t);
  assert.equal(await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 80, 'web', 'http', [{ port: 10001, service: 'backend' }, { port: 10002, service: 'redis' }])), 201);
  assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 80, 'backend')), 201);
  assert.equal(await cp.put('/meshes/default/dataplanes/redis-1', dp('10.0.0.3', 6379, 'redis', 'tcp')), 201);
  return cp;
}

const edsClusters = (cds: Response) => cds.decoded.filter((c) => c.type === 'EDS').map((c) => String(c.name)).sort();
function routeNames(lds: Response): string[] {
  const names = new Set<string>();
  JSON.stringify(lds.decoded, (key, value: unknown) => {
    if (key === 'route_config_name') names.add(String(value));
    return value;
  });
  return [...names].sort();
}

/** Runs Envoy's start-up sequence and returns the ACKed responses. */
async function syncLikeEnvoy(client: SotwClient) {
  client.request(CDS);
  const cds = await client.expect(CDS);
  client.ack(cds);
  const clusters = edsClusters(cds);
  client.request(EDS, clusters);
  const eds = await client.expect(EDS);
  client.ack(eds, clusters);
  client.request(LDS);
  const lds = await client.expect(LDS);
  client.ack(lds);
  const routes = routeNames(lds);
  client.request(RDS, routes);
  const rds = await client.expect(RDS);
  client.ack(rds, routes);
  return { cds, eds, lds, rds, clusters, routes };
}

describe('xDS protocol, state of the world', () => {
  it('serves an Envoy its whole config: wildcard CDS/LDS, EDS/RDS by name, and nothing twice', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { cds, eds, lds, rds, clusters, routes } = await syncLikeEnvoy(client);
    assert.deepEqual(cds.names.sort(), ['backend', 'localhost:8080', 'redis']);
    assert.deepEqual(clusters, ['backend', 'redis']);
    assert.deepEqual(eds.names.sort(), ['backend', 'redis']);
    assert.deepEqual(lds.names.sort(), ['inbound:10.0.0.1:80', 'outbound:127.0.0.1:10001', 'outbound:127.0.0.1:10002']);
    assert.deepEqual(routes, ['inbound:10.0.0.1:80', 'outbound:backend']);
    assert.deepEqual(rds.names.sort(), routes);
    const backend = eds.decoded.find((c) => c.cluster_name === 'backend') as { endpoints: Array<{ lb_endpoints: unknown[] }> };
    assert.equal(backend.endpoints[0]!.lb_endpoints.length, 1);
    await client.inbox.silence(300);
  });

  it('pushes only the type that changed, CDS before EDS, and nothing identical again', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { eds, clusters } = await syncLikeEnvoy(client);

    // A new backend instance: only endpoints change.
    const started = Date.now();
    assert.equal(await cp.put('/meshes/default/dataplanes/backend-2', dp('10.0.0.4', 80, 'backend')), 201);
    const eds2 = await client.expect(EDS);
    assert.notEqual(eds2.version_info, eds.version_info);
    const backend = eds2.decoded.find((c) => c.cluster_name === 'backend') as { endpoints: Array<{ lb_endpoints: unknown[] }> };
    assert.equal(backend.endpoints[0]!.lb_endpoints.length, 2);
    client.ack(eds2, clusters);
    assert.ok(Date.now() - started < 1000);
    await client.inbox.silence(300);

    // redis becomes gRPC and gains an instance: its cluster (HTTP/2), listener and endpoints change,
    // clusters first. redis has one instance, so whichever of the two writes the reconciler sees
    // first, no intermediate state changes the listener without the cluster (a service whose
    // instances disagree on the protocol is TCP, which would).
    assert.equal(await cp.put('/meshes/default/dataplanes/redis-1', dp('10.0.0.3', 6379, 'redis', 'grpc')), 200);
    assert.equal(await cp.put('/meshes/default/dataplanes/redis-2', dp('10.0.0.5', 6379, 'redis', 'grpc')), 201);
    const first = await client.inbox.next();
    assert.equal(first.type_url, CDS, 'clusters are pushed before the endpoints and listeners that use them');
    client.ack(first);
    const rest: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await client.inbox.next(500).catch(() => undefined);
      if (!r) break;
      rest.push(r.type_url);
      client.ack(r, r.type_url === EDS ? clusters : r.type_url === RDS ? ['inbound:10.0.0.1:80', 'outbound:backend', 'outbound:redis'] : []);
    }
    assert.ok(!rest.includes(CDS) || rest.indexOf(CDS) < rest.indexOf(EDS));
  });

  it('keeps the last good config after a NACK and does not resend it; the next change is sent', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { eds, clusters } = await syncLikeEnvoy(client);
    await cp.put('/meshes/default/dataplanes/backend-2', dp('10.0.0.4', 80, 'backend'));
    const rejected = await client.expect(EDS);
    client.nack(rejected, eds.version_info, clusters, 'endpoint rejected by the test');
    await client.inbox.silence(400);
    await cp.put('/meshes/default/dataplanes/backend-3', dp('10.0.0.5', 80, 'backend'));
    const next = await client.expect(EDS);
    assert.notEqual(next.version_info, rejected.version_info);
    client.ack(next, clusters);
  });

  it('ignores a request carrying a stale nonce', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { eds } = await syncLikeEnvoy(client);
    client.request(EDS, ['backend'], { version: eds.version_info, nonce: 'not-the-last-nonce' });
    await client.inbox.silence(300);
  });

  it('sends a reconnecting proxy nothing it already has, and what changed', async (t) => {
    const cp = await meshWithWeb(t);
    const first = new SotwClient(cp.xdsAddress, 'default.web-1');
    const synced = await syncLikeEnvoy(first);
    first.close();

    const again = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => again.close());
    again.request(CDS, [], { version: synced.cds.version_info, nonce: '' });
    again.request(EDS, synced.clusters, { version: synced.eds.version_info, nonce: '' });
    again.request(RDS, synced.routes, { version: 'some-old-version', nonce: '' });
    const rds = await again.expect(RDS);
    assert.deepEqual(rds.names.sort(), synced.routes);
    await again.inbox.silence(300);
  });

  it('pushes a subscribed name as soon as it comes to exist', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { routes } = await syncLikeEnvoy(client);
    const wanted = [...routes, 'outbound:payments'];
    client.request(RDS, wanted);
    await client.inbox.silence(200);
    await cp.put('/meshes/default/dataplanes/payments-1', dp('10.0.0.8', 80, 'payments'));
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 80, 'web', 'http', [{ port: 10001, service: 'backend' }, { port: 10002, service: 'redis' }, { port: 10003, service: 'payments' }]));
    const deadline = Date.now() + 3000;
    let names: string[] = [];
    while (!names.includes('outbound:payments') && Date.now() < deadline) {
      const r = await client.inbox.next(3000);
      if (r.type_url === RDS) names = r.names;
      client.ack(r, r.type_url === RDS ? wanted : r.type_url === EDS ? ['backend', 'payments', 'redis'] : []);
    }
    assert.ok(names.includes('outbound:payments'));
  });

  it('removes a cluster only after the listener that used it is gone (removals last)', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    const { clusters } = await syncLikeEnvoy(client);
    // web-1 stops consuming redis: its outbound listener and the redis cluster both go.
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 80, 'web', 'http', [{ port: 10001, service: 'backend' }]));
    const order: string[] = [];
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const r = await client.inbox.next(1000).catch(() => undefined);
      if (!r) break;
      order.push(`${r.type_url === CDS ? 'cds' : r.type_url === LDS ? 'lds' : r.type_url === EDS ? 'eds' : 'rds'}:${r.names.includes('redis') || r.names.includes('outbound:127.0.0.1:10002') ? 'with' : 'without'}`);
      client.ack(r, r.type_url === EDS ? clusters : r.type_url === RDS ? ['inbound:10.0.0.1:80', 'outbound:backend'] : []);
      if (order.includes('cds:without')) break;
    }
    assert.ok(order.indexOf('lds:without') >= 0, order.join(' '));
    assert.ok(order.indexOf('lds:without') < order.indexOf('cds:without'), `the cluster outlived its listener: ${order.join(' ')}`);
  });

  it('refuses an unknown dataplane, a malformed node id and a missing node with a gRPC status', async (t) => {
    const cp = await meshWithWeb(t);
    const unknown = new SotwClient(cp.xdsAddress, 'default.ghost');
    unknown.request(CDS);
    const s1 = await unknown.inbox.closed();
    assert.equal(s1.code, status.NOT_FOUND);
    assert.match(s1.details, /Dataplane "ghost" not found in mesh "default"/);
    const malformed = new SotwClient(cp.xdsAddress, 'no-dot-here');
    malformed.request(CDS);
    assert.equal((await malformed.inbox.closed()).code, status.INVALID_ARGUMENT);
    const anonymous = new SotwClient(cp.xdsAddress, '');
    anonymous.write({ type_url: CDS });
    assert.equal((await anonymous.inbox.closed()).code, status.INVALID_ARGUMENT);
    for (const c of [unknown, malformed, anonymous]) c.close();
  });

  it('keeps one misbehaving proxy from affecting another', async (t) => {
    const cp = await meshWithWeb(t);
    const good = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => good.close());
    const { clusters } = await syncLikeEnvoy(good);

    // A proxy sending garbage, one NACKing everything, one vanishing mid-stream.
    const garbage = new SotwClient(cp.xdsAddress, 'default.backend-1');
    garbage.request('type.googleapis.com/not.a.Type', ['x']);
    garbage.write({ type_url: CDS, response_nonce: 'nonsense', error_detail: { code: 13, message: 'junk' } });
    const nacker = new SotwClient(cp.xdsAddress, 'default.redis-1');
    nacker.request(CDS);
    const nacked = await nacker.expect(CDS);
    nacker.nack(nacked, '');
    const quitter = new SotwClient(cp.xdsAddress, 'default.backend-1');
    quitter.request(CDS);
    quitter.close();
    garbage.close();

    await cp.put('/meshes/default/dataplanes/backend-2', dp('10.0.0.4', 80, 'backend'));
    const eds = await good.expect(EDS);
    assert.equal((eds.decoded.find((c) => c.cluster_name === 'backend') as { endpoints: Array<{ lb_endpoints: unknown[] }> }).endpoints[0]!.lb_endpoints.length, 2);
    good.ack(eds, clusters);
    nacker.close();
  });
});

describe('xDS protocol, incremental (delta)', () => {
  it('sends only what changed and names what was removed', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new DeltaClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    client.request({ type_url: CDS });
    const cds = await client.expect(CDS);
    assert.deepEqual(cds.resources.map((r) => r.name).sort(), ['backend', 'localhost:8080', 'redis']);
    client.ack(cds);
    client.request({ type_url: EDS, subscribe: ['backend', 'redis'] });
    const eds = await client.expect(EDS);
    assert.deepEqual(eds.resources.map((r) => r.name).sort(), ['backend', 'redis']);
    client.ack(eds);
    await client.inbox.silence(200);

    await cp.put('/meshes/default/dataplanes/backend-2', dp('10.0.0.4', 80, 'backend'));
    const changed = await client.expect(EDS);
    assert.deepEqual(changed.resources.map((r) => r.name), ['backend'], 'only the changed resource');
    assert.deepEqual(changed.removed_resources, []);
    client.ack(changed);

    // web-1 stops consuming redis: its cluster and listener go away.
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 80, 'web', 'http', [{ port: 10001, service: 'backend' }]));
    const removal = await client.expect(CDS);
    assert.deepEqual(removal.removed_resources, ['redis']);
    assert.deepEqual(removal.resources, []);
    client.ack(removal);
  });

  it('removes a cluster only after the listener that used it (removals last)', async (t) => {
    const cp = await meshWithWeb(t);
    const client = new DeltaClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    client.request({ type_url: CDS });
    client.ack(await client.expect(CDS));
    client.request({ type_url: LDS });
    client.ack(await client.expect(LDS));
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 80, 'web', 'http', [{ port: 10001, service: 'backend' }]));
    const first = await client.inbox.next();
    assert.equal(first.type_url, LDS, 'the listener goes first');
    assert.deepEqual(first.removed_resources, ['outbound:127.0.0.1:10002']);
    client.ack(first);
    const second = await client.inbox.next();
    assert.equal(second.type_url, CDS);
    assert.deepEqual(second.removed_resources, ['redis']);
  });

  it('honours initial_resource_versions, and subscription changes even with a stale nonce', async (t) => {
    const cp = await meshWithWeb(t);
    const first = new DeltaClient(cp.xdsAddress, 'default.web-1');
    first.request({ type_url: EDS, subscribe: ['backend', 'redis'] });
    const eds = await first.expect(EDS);
    first.close();
    const versions = Object.fromEntries(eds.resources.map((r) => [r.name, r.version]));

    const again = new DeltaClient(cp.xdsAddress, 'default.web-1');
    t.after(() => again.close());
    again.request({ type_url: EDS, subscribe: ['backend', 'redis'], initial_resource_versions: versions });
    await again.inbox.silence(300);
    again.request({ type_url: EDS, subscribe: ['backend'], initial_resource_versions: {}, response_nonce: 'stale' });
    await again.inbox.silence(200); // backend is already known
    await cp.put('/meshes/default/dataplanes/backend-2', dp('10.0.0.4', 80, 'backend'));
    const changed = await again.expect(EDS);
    assert.deepEqual(changed.resources.map((r) => r.name), ['backend']);
    again.request({ type_url: EDS, unsubscribe: ['backend'], response_nonce: 'also-stale' });
    await cp.put('/meshes/default/dataplanes/backend-3', dp('10.0.0.5', 80, 'backend'));
    await again.inbox.silence(300); // no longer subscribed
  });
});

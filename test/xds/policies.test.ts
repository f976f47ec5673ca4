import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

/** Policies change what a connected proxy receives, and removing them reverts it. */
const { cluster: CDS, listener: LDS } = TYPE_URLS;
const dp = (address: string, service: string, outbound: string[] = []) => ({
  networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service } }], outbound: outbound.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});
const selectors = { sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }] };

describe('policies on a connected proxy', () => {
  it('HealthCheck adds health checks to the cluster and TrafficLog an access log to the listener; deleting them reverts', async (t) => {
    const cp = await startTestControlPlane(t);
    await cp.put('/meshes/default', { logging: { defaultBackend: 'file', backends: [{ name: 'file', file: { path: '/tmp/skiff-access.log' } }] } });
    await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web', ['backend']));
    await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    const client = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => client.close());
    client.request(CDS);
    const cds = await client.expect(CDS);
    client.ack(cds);
    client.request(LDS);
    const lds = await client.expect(LDS);
    client.ack(lds);
    const backendCluster = (r: typeof cds) => r.decoded.find((c) => c.name === 'backend') as Record<string, any>;
    const outboundProxy = (r: typeof lds) => (r.decoded.find((l) => String(l.name).startsWith('outbound:')) as Record<string, any>).filter_chains[0].filters[0].typed_config;
    assert.equal(backendCluster(cds).health_checks, undefined);
    assert.equal(outboundProxy(lds).access_log, undefined);

    assert.equal(await cp.put('/meshes/default/health-checks/hc', { ...selectors, conf: { interval: '5s', timeout: '1s', unhealthyThreshold: 2, healthyThreshold: 1 } }), 201);
    const withHc = await client.expect(CDS);
    client.ack(withHc);
    assert.equal(backendCluster(withHc).health_checks[0].interval.seconds, '5');
    assert.equal(await cp.put('/meshes/default/traffic-logs/tl', { ...selectors }), 201);
    const withLog = await client.expect(LDS);
    client.ack(withLog);
    assert.equal(outboundProxy(withLog).access_log[0].typed_config.path, '/tmp/skiff-access.log', 'the mesh default backend');

    assert.equal(await cp.del('/meshes/default/health-checks/hc'), 200);
    const reverted = await client.expect(CDS);
    client.ack(reverted);
    assert.equal(backendCluster(reverted).health_checks, undefined);
    assert.equal(await cp.del('/meshes/default/traffic-logs/tl'), 200);
    const logOff = await client.expect(LDS);
    client.ack(logOff);
    assert.equal(outboundProxy(logOff).access_log, undefined);
  });
});

describe('ProxyTemplate', () => {
  it('adds a raw resource to a connected proxy (v2 YAML converted to v3), reverts when deleted, and refuses one that does not decode', async (t) => {
    const cp = await startTestControlPlane(t);
    await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    const client = new SotwClient(cp.xdsAddress, 'default.backend-1');
    t.after(() => client.close());
    client.request(CDS);
    const before = await client.expect(CDS);
    client.ack(before);
    assert.deepEqual(before.names, ['localhost:80']);
    const raw = "'@type': type.googleapis.com/envoy.api.v2.Cluster\nconnectTimeout: 5s\nname: localhost:8443\ntype: STATIC\nloadAssignment:\n  clusterName: localhost:8443\n  endpoints: [{lbEndpoints: [{endpoint: {address: {socketAddress: {address: 127.0.0.1, portValue: 8443}}}}]}]\n";
    const template = (resource: string) => ({ selectors: [{ match: { 'kuma.io/service': 'backend' } }], conf: { imports: ['default-proxy'], resources: [{ name: 'raw-name', version: 'v1', resource }] } });
    assert.equal(await cp.put('/meshes/default/proxytemplates/pt-1', template(raw)), 201);
    const added = await client.expect(CDS);
    client.ack(added);
    assert.deepEqual(added.names.sort(), ['localhost:80', 'localhost:8443']);
    assert.equal((added.decoded.find((c) => c.name === 'localhost:8443') as { connect_timeout: { seconds: string } }).connect_timeout.seconds, '5');

    const bad = await fetch(`${cp.api}/meshes/default/proxytemplates/pt-2`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(template(raw.replace('connectTimeout', 'conectTimeout'))) });
    assert.equal(bad.status, 400);
    const envelope = (await bad.json()) as { causes: Array<{ field: string; message: string }> };
    assert.equal(envelope.causes[0]!.field, 'conf.resources[0].resource');
    assert.match(envelope.causes[0]!.message, /resource "raw-name" is not a valid Envoy resource: conectTimeout: unknown field of Cluster/);

    // Decodes, but Envoy would NACK it: refused at admission, naming the rule, and nothing stored.
    const tcpProxyWithoutStatPrefix = "'@type': type.googleapis.com/envoy.config.listener.v3.Listener\nname: raw-l\naddress: {socketAddress: {address: 0.0.0.0, portValue: 9000}}\nfilterChains:\n- filters:\n  - name: envoy.filters.network.tcp_proxy\n    typedConfig: {'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, cluster: localhost:80}\n";
    const envoyWouldNack: Array<[string, RegExp]> = [
      [raw.replace('connectTimeout: 5s', 'connectTimeout: 0s'), /connect_timeout: must be > 0 ms/],
      [tcpProxyWithoutStatPrefix, /filter_chains\[0\]\.filters\[0\]\.typed_config<envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxy>\.stat_prefix: length must be >= 1/],
    ];
    for (const [resource, rule] of envoyWouldNack) {
      const refused = await fetch(`${cp.api}/meshes/default/proxytemplates/pt-3`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(template(resource)) });
      assert.equal(refused.status, 400);
      const causes = ((await refused.json()) as { causes: Array<{ field: string; message: string }> }).causes;
      assert.equal(causes[0]!.field, 'conf.resources[0].resource');
      assert.match(causes[0]!.message, /breaks a validation rule of Envoy's protos/);
      assert.match(causes.map((c) => c.message).join('\n'), rule);
    }
    assert.equal(await cp.cp.store.get({ type: 'ProxyTemplate', mesh: 'default', name: 'pt-3' }), undefined);

    assert.equal(await cp.del('/meshes/default/proxytemplates/pt-1'), 200);
    const reverted = await client.expect(CDS);
    assert.deepEqual(reverted.names, ['localhost:80']);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { decodeResource, encodeResource } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { envoyBootstrap } from '../../src/xds/generators/bootstrap.js';
import { fromProto3Json } from '../../src/xds/proto-json.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { pgvViolations } from '../../src/xds/validate-rules.js';

const BOOTSTRAP = 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap';
type Json = Record<string, any>; // assertions on a parsed document

const web = { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } };

async function bootstrap(cp: TestControlPlane, body: unknown, json = true) {
  const r = await fetch(`${cp.api}/bootstrap`, { method: 'POST', headers: { 'content-type': 'application/json', ...(json ? { accept: 'application/json' } : {}) }, body: JSON.stringify(body) });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

async function token(cp: TestControlPlane, body: Record<string, unknown>) {
  const r = await fetch(`${cp.api}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.text();
}

/** Envoy reads node.metadata from YAML as a Struct; protobufjs needs the Struct's own shape. */
function asProtoObject(doc: Json): Json {
  const copy = structuredClone(doc);
  copy.node.metadata = { fields: Object.fromEntries(Object.entries(doc.node.metadata as Record<string, string>).map(([k, v]) => [k, { string_value: v }])) };
  return copy;
}

describe('POST /bootstrap', () => {
  it('returns an Envoy bootstrap that passes the Bootstrap proto and its validate.rules, and that gets the proxy served', async (t) => {
    const workDir = mkdtempSync(join(tmpdir(), 'skiff-boot-'));
    t.after(() => rmSync(workDir, { recursive: true, force: true }));
    const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken', KUMA_XDS_SERVER_TLS_ENABLED: 'true', KUMA_GENERAL_WORK_DIR: workDir });
    await cp.put('/meshes/default/dataplanes/web-1', web);
    const dpToken = await token(cp, { name: 'web-1', mesh: 'default' });

    const r = await bootstrap(cp, { mesh: 'default', name: 'web-1', proxyType: 'dataplane', dataplaneToken: dpToken, adminPort: 9901, version: { kumaDp: { version: '2.14.3' }, envoy: { version: '1.34.0' } } });
    assert.equal(r.status, 200, r.text);
    const answer = JSON.parse(r.text) as Json;
    assert.deepEqual(answer.kumaSidecarConfiguration, { networking: { isUsingTransparentProxy: false, address: '10.0.0.1' } });
    const doc = parseYaml(Buffer.from(answer.bootstrap, 'base64').toString()) as Json;
    assert.equal(doc.node.id, 'default.web-1');
    assert.equal(doc.node.cluster, 'web');
    assert.equal(doc.node.metadata['dataplane.admin.port'], '9901');
    assert.equal(doc.node.metadata['dataplane.token'], undefined, 'the token is not in node metadata');
    assert.deepEqual(doc.admin.address, { socket_address: { address: '127.0.0.1', port_value: 9901 } });
    assert.deepEqual(doc.dynamic_resources.ads_config.grpc_services[0].initial_metadata, [{ key: 'authorization', value: dpToken }]);
    const ads = doc.static_resources.clusters[0];
    assert.equal(ads.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, cp.cp.xds.port);
    const ca = readFileSync(join(workDir, 'certs', 'xds-server.crt'), 'utf8');
    const tls = ads.transport_socket.typed_config.common_tls_context;
    assert.equal(tls.validation_context.trusted_ca.inline_string, ca);
    // Not any certificate of that CA: the one naming the host dialled, over TLS 1.2 or later.
    assert.deepEqual(tls.validation_context.match_typed_subject_alt_names, [{ san_type: 'DNS', matcher: { exact: 'localhost' } }]);
    assert.equal(tls.tls_params.tls_minimum_protocol_version, 'TLSv1_2');
    assert.equal(ads.transport_socket.typed_config.sni, 'localhost');
    assert.equal(ads.connect_timeout, '1s', 'canonical proto3 JSON, as Envoy reads YAML');

    const bytes = encodeResource(BOOTSTRAP, fromProto3Json(BOOTSTRAP, asProtoObject(doc)));
    assert.deepEqual(pgvViolations(BOOTSTRAP, bytes), []);
    assert.equal((decodeResource(BOOTSTRAP, bytes) as Json).dynamic_resources.ads_config.api_type, 'GRPC');

    // What the bootstrap says is enough to be served: the address, the CA, the token.
    const client = new SotwClient(`localhost:${cp.cp.xds.port}`, doc.node.id, {
      credentials: grpc.credentials.createSsl(Buffer.from(ca)),
      metadata: { authorization: doc.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].value },
    });
    client.request(TYPE_URLS.cluster);
    assert.deepEqual((await client.expect(TYPE_URLS.cluster)).names, ['localhost:80']);
    client.close();

    const yaml = await bootstrap(cp, { mesh: 'default', name: 'web-1', dataplaneToken: dpToken }, false);
    assert.equal(yaml.status, 200);
    assert.match(yaml.type, /yaml/);
    assert.equal((parseYaml(yaml.text) as Json).node.id, 'default.web-1');
  });

  it('registers an inline dataplaneResource admitted by a tag-bound token', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' });
    const serviceToken = await token(cp, { mesh: 'default', tags: { 'kuma.io/service': ['web'] } });
    const r = await bootstrap(cp, { mesh: 'default', name: 'web-7', dataplaneToken: serviceToken, dataplaneResource: JSON.stringify({ ...web, name: 'web-7' }) });
    assert.equal(r.status, 200, r.text);
    assert.ok(await cp.cp.store.get({ type: 'Dataplane', mesh: 'default', name: 'web-7' }));
    const wrongService = await bootstrap(cp, {
      mesh: 'default',
      name: 'db-1',
      dataplaneToken: serviceToken,
      dataplaneResource: `type: Dataplane\nmesh: default\nname: db-1\nnetworking:\n  address: 10.0.0.9\n  inbound:\n  - port: 5432\n    tags: {kuma.io/service: db}\n`,
    });
    assert.equal(wrongService.status, 403);
    assert.equal(await cp.cp.store.get({ type: 'Dataplane', mesh: 'default', name: 'db-1' }), undefined, 'nothing registered for a refused token');
  });

  it('answers bad requests with the envelope: 400, 401, 403, 404', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' });
    await cp.put('/meshes/default/dataplanes/web-1', web);
    await cp.put('/meshes/default/dataplanes/db-1', { ...web, name: 'db-1' });
    const good = await token(cp, { name: 'web-1', mesh: 'default' });
    const cases: Array<[unknown, number, string]> = [
      [{ name: 'web-1' }, 400, 'mesh'],
      [{ mesh: 'default', name: 'web-1', adminPort: 70000, dataplaneToken: good }, 400, 'adminPort'],
      [{ mesh: 'default', name: 'web-1', dataplaneToken: good, dataplaneResource: '{not yaml: [' }, 400, 'dataplaneResource'],
      [{ mesh: 'default', name: 'web-1', dataplaneToken: good, dataplaneResource: '{"networking": {}}' }, 400, 'dataplaneResource.networking.inbound'],
      [{ mesh: 'default', name: 'web-1' }, 401, ''],
      [{ mesh: 'default', name: 'web-1', dataplaneToken: 'garbage' }, 401, ''],
      [{ mesh: 'default', name: 'db-1', dataplaneToken: good }, 403, ''],
      [{ mesh: 'default', name: 'ghost', dataplaneToken: good }, 404, ''],
    ];
    for (const [body, expected, field] of cases) {
      const r = await bootstrap(cp, body);
      assert.equal(r.status, expected, `${JSON.stringify(body)}: ${r.text}`);
      const envelope = JSON.parse(r.text) as Json;
      assert.equal(typeof envelope.title, 'string');
      if (field) assert.ok(envelope.causes.some((c: Json) => c.field === field), `${field} in ${r.text}`);
      assert.ok(!r.text.includes(good), 'the token is echoed');
    }
  });
});

describe('envoyBootstrap: the ADS cluster address', () => {
  const params = { nodeId: 'default.web-1', service: 'web', adminAddress: '127.0.0.1', adminPort: 9901, adminAccessLogPath: '/dev/null', xdsPort: 5678, xdsConnectTimeoutMs: 1500, caPem: 'CA', metadata: {} };
  const ads = (xdsHost: string) => (envoyBootstrap({ ...params, xdsHost }) as Json).static_resources.clusters[0];

  it('treats only real IP addresses as IPs (STATIC, IP SAN) and everything else as DNS names', () => {
    const cases: Array<[string, string, string, string]> = [
      ['10.0.0.1', 'STATIC', '10.0.0.1', 'IP_ADDRESS'],
      ['[::1]', 'STATIC', '::1', 'IP_ADDRESS'],
      ['::1', 'STATIC', '::1', 'IP_ADDRESS'],
      ['cafe', 'STRICT_DNS', 'cafe', 'DNS'],
      ['c0ffee', 'STRICT_DNS', 'c0ffee', 'DNS'],
      ['999.1.1.1', 'STRICT_DNS', '999.1.1.1', 'DNS'],
      ['cp.mesh.example', 'STRICT_DNS', 'cp.mesh.example', 'DNS'],
    ];
    for (const [host, type, address, sanType] of cases) {
      const cluster = ads(host);
      assert.equal(cluster.type, type, host);
      assert.equal(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, address, host);
      assert.deepEqual(cluster.transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names, [{ san_type: sanType, matcher: { exact: address } }], host);
      assert.equal(cluster.transport_socket.typed_config.sni, sanType === 'DNS' ? address : undefined, `${host}: SNI is a host name, never an IP`);
      const bytes = encodeResource(BOOTSTRAP, fromProto3Json(BOOTSTRAP, asProtoObject(envoyBootstrap({ ...params, xdsHost: host }) as Json)));
      assert.deepEqual(pgvViolations(BOOTSTRAP, bytes), [], host);
    }
    assert.equal(ads('cp').connect_timeout, '1.500s');
  });

  it('lists the other instances after the first, with every name in the SAN match, once each', () => {
    const doc = envoyBootstrap({ ...params, xdsHost: 'cp-1.example', moreXdsAddresses: [{ host: '10.0.0.2', port: 5678 }, { host: 'cp-3.example', port: 15678 }, { host: 'cp-1.example', port: 5678 }] }) as Json;
    const cluster = doc.static_resources.clusters[0];
    assert.equal(cluster.type, 'STRICT_DNS', 'a DNS name among them');
    assert.deepEqual(
      cluster.load_assignment.endpoints[0].lb_endpoints.map((e: Json) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`),
      ['cp-1.example:5678', '10.0.0.2:5678', 'cp-3.example:15678'],
    );
    assert.deepEqual(cluster.transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names, [
      { san_type: 'DNS', matcher: { exact: 'cp-1.example' } },
      { san_type: 'IP_ADDRESS', matcher: { exact: '10.0.0.2' } },
      { san_type: 'DNS', matcher: { exact: 'cp-3.example' } },
    ]);
    const bytes = encodeResource(BOOTSTRAP, fromProto3Json(BOOTSTRAP, asProtoObject(doc)));
    assert.deepEqual(pgvViolations(BOOTSTRAP, bytes), []);
    const ips = (envoyBootstrap({ ...params, xdsHost: '10.0.0.1', moreXdsAddresses: [{ host: '10.0.0.2', port: 5678 }] }) as Json).static_resources.clusters[0];
    assert.equal(ips.type, 'STATIC', 'all IPs');
  });
});

describe('envoy-examples/envoy-bootstrap.yaml', () => {
  it('is a valid Envoy Bootstrap (proto fields and validate.rules) once its placeholders are filled', () => {
    const text = readFileSync(new URL('../../../envoy-examples/envoy-bootstrap.yaml', import.meta.url), 'utf8')
      .replaceAll('REPLACE_NODE_ID', 'default.web-1')
      .replaceAll('REPLACE_DATAPLANE_TOKEN', 'a.b.c')
      .replaceAll('REPLACE_CA_PEM_PATH', '/certs/xds-server.crt');
    const doc = parseYaml(text) as Json;
    const bytes = encodeResource(BOOTSTRAP, fromProto3Json(BOOTSTRAP, asProtoObject(doc)));
    const decoded = decodeResource(BOOTSTRAP, bytes) as Json;
    assert.equal(decoded.node.id, 'default.web-1');
    assert.equal(decoded.static_resources.clusters[0].transport_socket.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    assert.equal(decoded.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].key, 'authorization');
    assert.deepEqual(pgvViolations(BOOTSTRAP, bytes), []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildApi } from '../helpers/api.js';

/**
 * Bad input never gets a 5xx or a crash: each row is a request a careless or hostile client could
 * send, with the status and (where it applies) the cause field we answer with.
 */

interface Case {
  name: string;
  method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  url: string;
  body?: unknown;
  /** Raw payload instead of JSON `body`. */
  raw?: string | Buffer;
  contentType?: string;
  status: number;
  /** A field expected among `causes`. */
  field?: string;
  /** Text the envelope must never contain (e.g. a secret value). */
  mustNotContain?: string;
}

const dp = (networking: unknown, extra: Record<string, unknown> = {}) => ({ type: 'Dataplane', mesh: 'default', name: 'dp-1', networking, ...extra });
const okInbound = [{ interface: '127.0.0.1:9000:6379', tags: { service: 'redis' } }];
const tr = (conf: unknown, sources: unknown = [{ match: { service: 'web' } }]) => ({
  type: 'TrafficRoute',
  mesh: 'default',
  name: 'tr-1',
  sources,
  destinations: [{ match: { service: 'backend' } }],
  conf,
});
const hc = (activeChecks: Record<string, unknown>) => ({
  type: 'HealthCheck',
  mesh: 'default',
  name: 'hc-1',
  sources: [{ match: { service: 'web' } }],
  destinations: [{ match: { service: 'backend' } }],
  conf: { activeChecks: { interval: '10s', timeout: '2s', unhealthyThreshold: 3, healthyThreshold: 1, ...activeChecks } },
});
const pt = (conf: unknown) => ({ type: 'ProxyTemplate', mesh: 'default', name: 'pt-1', selectors: [{ match: { service: 'backend' } }], conf });

const DP = '/meshes/default/dataplanes/dp-1';
const cases: Case[] = [
  // Transport-level problems
  { name: 'malformed JSON', method: 'PUT', url: DP, raw: '{"type": "Dataplane",', contentType: 'application/json', status: 400 },
  { name: 'empty JSON body', method: 'PUT', url: DP, raw: '', contentType: 'application/json', status: 400 },
  { name: 'JSON body that is a list', method: 'PUT', url: DP, body: [1, 2], status: 400, field: '' },
  { name: 'JSON body that is a string', method: 'PUT', url: DP, raw: '"hello"', contentType: 'application/json', status: 400, field: '' },
  { name: 'JSON null body', method: 'PUT', url: DP, raw: 'null', contentType: 'application/json', status: 400, field: '' },
  { name: 'unsupported content type', method: 'PUT', url: DP, raw: 'type=Dataplane', contentType: 'application/x-www-form-urlencoded', status: 415 },
  { name: 'body over 1 MiB', method: 'PUT', url: DP, raw: JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }), contentType: 'application/json', status: 413 },
  { name: 'malformed YAML', method: 'PUT', url: DP, raw: 'type: Dataplane\nnetworking: [unclosed', contentType: 'application/yaml', status: 400 },
  { name: 'prototype poisoning', method: 'PUT', url: DP, raw: '{"__proto__": {"admin": true}, "networking": {}}', contentType: 'application/json', status: 400 },
  { name: 'unknown endpoint', method: 'GET', url: '/no/such/thing', status: 404 },
  { name: 'unsupported method on a resource', method: 'POST', url: DP, body: {}, status: 404 },
  { name: 'writing the read-only insights view', method: 'PUT', url: '/meshes/default/dataplanes+insights/dp-1', body: {}, status: 404 },
  // Identity: URL and body must agree, names must be valid
  { name: 'name in body differs from URL', method: 'PUT', url: DP, body: dp(okInbound, { name: 'other' }), status: 400, field: 'name' },
  { name: 'mesh in body differs from URL', method: 'PUT', url: DP, body: dp(okInbound, { mesh: 'other' }), status: 400, field: 'mesh' },
  { name: 'type in body differs from path', method: 'PUT', url: DP, body: dp(okInbound, { type: 'Mesh' }), status: 400, field: 'type' },
  { name: 'invalid characters in name', method: 'PUT', url: '/meshes/default/dataplanes/Bad_NAME!', body: { networking: { inbound: okInbound } }, status: 400, field: 'name' },
  { name: 'name longer than 253', method: 'PUT', url: `/meshes/default/dataplanes/${'a'.repeat(254)}`, body: { networking: { inbound: okInbound } }, status: 400, field: 'name' },
  { name: 'mesh name with a dot (node ids split {mesh}.{name} at the first dot)', method: 'PUT', url: '/meshes/prod.eu', body: {}, status: 400, field: 'name' },
  { name: 'path segment over the router limit', method: 'GET', url: `/meshes/default/dataplanes/${'a'.repeat(2000)}`, status: 414 },
  { name: 'malformed percent-encoding in the URL', method: 'GET', url: '/meshes/%E0%A4%A/dataplanes', status: 400 },
  { name: 'mesh that does not exist', method: 'PUT', url: '/meshes/ghost/dataplanes/dp-1', body: { networking: { inbound: okInbound } }, status: 400, field: 'mesh' },
  { name: 'advertisedAddress that is not an IP', method: 'PUT', url: DP, body: { networking: { address: '10.0.0.1', advertisedAddress: 'nat.example', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }] } }, status: 400, field: 'networking.advertisedAddress' },
  { name: 'inbound state that Kuma does not have', method: 'PUT', url: DP, body: { networking: { address: '10.0.0.1', inbound: [{ port: 80, state: 'Sleeping', tags: { 'kuma.io/service': 'web' } }] } }, status: 400, field: 'networking.inbound[0].state' },
  { name: 'inbound health.ready that is not a boolean', method: 'PUT', url: DP, body: { networking: { address: '10.0.0.1', inbound: [{ port: 80, health: { ready: 'no' }, tags: { 'kuma.io/service': 'web' } }] } }, status: 400, field: 'networking.inbound[0].health.ready' },
  { name: 'unknown top-level field', method: 'PUT', url: DP, body: dp(okInbound, { netwrking: {} }), status: 400, field: 'netwrking' },
  // Dataplane
  { name: 'dataplane without networking', method: 'PUT', url: DP, body: { type: 'Dataplane' }, status: 400, field: 'networking' },
  { name: 'dataplane without inbounds', method: 'PUT', url: DP, body: dp({ inbound: [] }), status: 400, field: 'networking.inbound' },
  { name: 'inbound interface malformed', method: 'PUT', url: DP, body: dp({ inbound: [{ interface: '127.0.0.1:9000', tags: { service: 'a' } }] }), status: 400, field: 'networking.inbound[0].interface' },
  { name: 'inbound interface port out of range', method: 'PUT', url: DP, body: dp({ inbound: [{ interface: '127.0.0.1:99999:80', tags: { service: 'a' } }] }), status: 400, field: 'networking.inbound[0].interface' },
  { name: 'inbound without the service tag', method: 'PUT', url: DP, body: dp({ inbound: [{ interface: '127.0.0.1:9000:6379', tags: { version: '1' } }] }), status: 400, field: 'networking.inbound[0].tags["kuma.io/service"]' },
  { name: 'inbound with an empty tag value', method: 'PUT', url: DP, body: dp({ inbound: [{ interface: '127.0.0.1:9000:6379', tags: { service: '' } }] }), status: 400, field: 'networking.inbound[0].tags["service"]' },
  { name: 'current form without address', method: 'PUT', url: DP, body: dp({ inbound: [{ port: 9000, tags: { 'kuma.io/service': 'a' } }] }), status: 400, field: 'networking.address' },
  { name: 'current form port 0', method: 'PUT', url: DP, body: dp({ address: '10.0.0.1', inbound: [{ port: 0, tags: { 'kuma.io/service': 'a' } }] }), status: 400, field: 'networking.inbound[0].port' },
  { name: 'current form port as a string', method: 'PUT', url: DP, body: dp({ address: '10.0.0.1', inbound: [{ port: '9000', tags: { 'kuma.io/service': 'a' } }] }), status: 400, field: 'networking.inbound[0].port' },
  { name: 'invalid address', method: 'PUT', url: DP, body: dp({ address: '10.0.0.300', inbound: [{ port: 9000, tags: { 'kuma.io/service': 'a' } }] }), status: 400, field: 'networking.address' },
  { name: 'outbound without a service', method: 'PUT', url: DP, body: dp({ inbound: okInbound, outbound: [{ interface: ':10000' }] }), status: 400, field: 'networking.outbound[0].service' },
  { name: 'outbound interface malformed', method: 'PUT', url: DP, body: dp({ inbound: okInbound, outbound: [{ interface: 'nope', service: 'x' }] }), status: 400, field: 'networking.outbound[0].interface' },
  // Policies
  { name: 'traffic route with a negative weight', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr([{ weight: -1, destination: { service: 'backend' } }]), status: 400, field: 'conf[0].weight' },
  { name: 'traffic route weights summing to zero', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr([{ weight: 0, destination: { service: 'backend' } }]), status: 400, field: 'conf' },
  { name: 'traffic route destination without service', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr([{ weight: 1, destination: { version: 'v1' } }]), status: 400, field: 'conf[0].destination["kuma.io/service"]' },
  { name: 'traffic route with empty sources', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr([{ weight: 1, destination: { service: 'b' } }], []), status: 400, field: 'sources' },
  { name: 'selector with an empty match', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr([{ weight: 1, destination: { service: 'b' } }], [{ match: {} }]), status: 400, field: 'sources[0].match' },
  { name: 'traffic route without conf', method: 'PUT', url: '/meshes/default/traffic-routes/tr-1', body: tr(undefined), status: 400, field: 'conf' },
  { name: 'health check interval not a duration', method: 'PUT', url: '/meshes/default/health-checks/hc-1', body: hc({ interval: '10 seconds' }), status: 400, field: 'conf.activeChecks.interval' },
  { name: 'health check zero threshold', method: 'PUT', url: '/meshes/default/health-checks/hc-1', body: hc({ unhealthyThreshold: 0 }), status: 400, field: 'conf.activeChecks.unhealthyThreshold' },
  { name: 'proxy template resource that does not parse', method: 'PUT', url: '/meshes/default/proxytemplates/pt-1', body: pt({ resources: [{ name: 'r', version: 'v', resource: 'a: [b' }] }), status: 400, field: 'conf.resources[0].resource' },
  { name: 'proxy template resource without @type', method: 'PUT', url: '/meshes/default/proxytemplates/pt-1', body: pt({ resources: [{ name: 'r', version: 'v', resource: 'name: x' }] }), status: 400, field: 'conf.resources[0].resource' },
  { name: 'proxy template unknown profile', method: 'PUT', url: '/meshes/default/proxytemplates/pt-1', body: pt({ imports: ['no-such-profile'] }), status: 400, field: 'conf.imports[0]' },
  { name: 'traffic permission source with a tag no certificate proves', method: 'PUT', url: '/meshes/default/traffic-permissions/tp-1', body: { sources: [{ match: { 'kuma.io/service': 'web', version: 'v1' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }] }, status: 400, field: 'sources[0].match["version"]' },
  { name: 'traffic permission source without a service', method: 'PUT', url: '/meshes/default/traffic-permissions/tp-1', body: { sources: [{ match: { version: 'v1' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }] }, status: 400, field: 'sources[0].match["kuma.io/service"]' },
  { name: 'traffic permission without destinations', method: 'PUT', url: '/meshes/default/traffic-permissions/tp-1', body: { sources: [{ match: { service: 'a' } }] }, status: 400, field: 'destinations' },
  // Mesh
  { name: 'mesh TCP logging backend without a port', method: 'PUT', url: '/meshes/m-1', body: { logging: { backends: [{ name: 'logstash', tcp: { address: 'logstash.internal' } }] } }, status: 400, field: 'logging.backends[0].tcp.address' },
  { name: 'mesh TCP logging backend (type/conf) with a bad port', method: 'PUT', url: '/meshes/m-1', body: { logging: { backends: [{ name: 'logstash', type: 'tcp', conf: { address: '127.0.0.1:70000' } }] } }, status: 400, field: 'logging.backends[0].conf.address' },
  { name: 'mesh file logging backend without a path', method: 'PUT', url: '/meshes/m-1', body: { logging: { backends: [{ name: 'file', file: { path: '' } }] } }, status: 400, field: 'logging.backends[0].file.path' },
  { name: 'mesh enabledBackend naming no backend', method: 'PUT', url: '/meshes/m-1', body: { mtls: { enabledBackend: 'ca-2', backends: [{ name: 'ca-1', type: 'builtin' }] } }, status: 400, field: 'mtls.enabledBackend' },
  { name: 'mesh builtin CA with RSAbits out of range', method: 'PUT', url: '/meshes/m-1', body: { mtls: { backends: [{ name: 'ca-1', type: 'builtin', conf: { caCert: { RSAbits: 1024 } } }] } }, status: 400, field: 'mtls.backends[0].conf.caCert.RSAbits' },
  { name: 'mesh duplicate backend names', method: 'PUT', url: '/meshes/m-1', body: { mtls: { backends: [{ name: 'ca-1', type: 'builtin' }, { name: 'ca-1', type: 'builtin' }] } }, status: 400, field: 'mtls.backends[1].name' },
  { name: 'mesh unknown CA type', method: 'PUT', url: '/meshes/m-1', body: { mtls: { enabled: true, ca: { vault: {} } } }, status: 400, field: 'mtls.ca.vault' },
  { name: 'mesh mixing both mTLS forms', method: 'PUT', url: '/meshes/m-1', body: { mtls: { enabled: true, ca: { builtin: {} }, enabledBackend: 'x' } }, status: 400, field: 'mtls' },
  // Secrets: the value never comes back in an error
  { name: 'secret that is not base64', method: 'PUT', url: '/meshes/default/secrets/s-1', body: { data: 'sup3r-s3cret-value!!' }, status: 400, field: 'data', mustNotContain: 'sup3r-s3cret-value' },
  { name: 'secret with empty data', method: 'PUT', url: '/meshes/default/secrets/s-1', body: { data: '' }, status: 400, field: 'data' },
  { name: 'global secret with a mesh', method: 'PUT', url: '/global-secrets/g-1', body: { mesh: 'default', data: 'YQ==' }, status: 400, field: 'mesh' },
  // Reads and deletes of what is not there, paging
  { name: 'get a missing resource', method: 'GET', url: '/meshes/default/dataplanes/ghost', status: 404 },
  { name: 'get in a missing mesh', method: 'GET', url: '/meshes/ghost/traffic-routes/x', status: 404 },
  { name: 'delete a missing resource', method: 'DELETE', url: '/meshes/default/dataplanes/ghost', status: 404 },
  { name: 'delete a missing mesh', method: 'DELETE', url: '/meshes/ghost', status: 404 },
  { name: 'page size 0', method: 'GET', url: '/meshes/default/dataplanes?size=0', status: 400, field: 'size' },
  { name: 'page size over 1000', method: 'GET', url: '/meshes/default/dataplanes?size=1001', status: 400, field: 'size' },
  { name: 'negative offset', method: 'GET', url: '/meshes/default/dataplanes?offset=-1', status: 400, field: 'offset' },
  { name: 'non-numeric size', method: 'GET', url: '/meshes?size=ten', status: 400, field: 'size' },
  { name: 'malformed tag filter', method: 'GET', url: '/meshes/default/dataplanes?tag=service', status: 400, field: 'tag' },
];

describe('bad input: a 4xx with Kuma’s envelope, never a 5xx', () => {
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async (t) => {
      const { app } = await buildApi(t);
      const payload = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
      const headers: Record<string, string> = {};
      if (payload !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
      const response = await app.inject({ method: c.method, url: c.url, payload, headers });
      assert.equal(response.statusCode, c.status, response.body);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      const body = response.json() as { title: unknown; details: unknown; causes: Array<{ field: string; message: string }>; status: unknown };
      assert.equal(typeof body.title, 'string');
      assert.ok((body.title as string).length > 0);
      assert.equal(typeof body.details, 'string');
      assert.ok(Array.isArray(body.causes));
      assert.equal(body.status, c.status);
      if (c.field !== undefined) {
        assert.ok(
          body.causes.some((cause) => cause.field === c.field && cause.message.length > 0),
          `expected a cause for "${c.field}", got ${JSON.stringify(body.causes)}`,
        );
      }
      if (c.mustNotContain) assert.ok(!response.body.includes(c.mustNotContain), 'the error echoes a secret');
    });
  }

  it('has at least 30 cases', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  });

  it('rejected writes leave nothing behind', async (t) => {
    const { app, store } = await buildApi(t);
    const types = ['Dataplane', 'TrafficRoute', 'HealthCheck', 'ProxyTemplate', 'TrafficPermission', 'Secret', 'GlobalSecret'] as const;
    // The signing key and admin token written at start are the only global secrets before.
    const before = Object.fromEntries(await Promise.all(types.map(async (type) => [type, (await store.list(type)).total] as const)));
    for (const c of cases.filter((x) => x.method === 'PUT')) {
      const payload = c.raw ?? JSON.stringify(c.body);
      await app.inject({ method: 'PUT', url: c.url, payload, headers: { 'content-type': c.contentType ?? 'application/json' } });
    }
    for (const type of types) assert.equal((await store.list(type)).total, before[type], `${type} written by a rejected request`);
    assert.deepEqual((await store.list('Mesh')).items.map((m) => m.name), ['default']);
  });
});

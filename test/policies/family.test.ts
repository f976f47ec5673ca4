import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { TARGET_REF_POLICY_TYPES, type TargetRefPolicyType } from '../../src/core/model.js';
import { descriptorOf } from '../../src/core/registry.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { send as sendJson, withSkiffctl } from '../helpers/skiffctl.js';

/**
 * The whole Kuma 2.x targetRef family over the REST API and skiffctl: one valid policy of each type
 * round-trips under Kuma's plural path, and each type refuses what Kuma refuses with the cause at
 * its field path.
 */
const web = { kind: 'MeshService', name: 'web' };
const mesh = { kind: 'Mesh' };
const backend = { kind: 'MeshService', name: 'backend' };

const VALID: Record<TargetRefPolicyType, Record<string, unknown>> = {
  MeshTrafficPermission: { targetRef: backend, from: [{ targetRef: web, default: { action: 'Allow' } }] },
  MeshHTTPRoute: { targetRef: web, to: [{ targetRef: backend, rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], default: { backendRefs: [{ kind: 'MeshService', name: 'backend', weight: 1 }] } }] }] },
  MeshTCPRoute: { targetRef: web, to: [{ targetRef: backend, rules: [{ default: { backendRefs: [{ kind: 'MeshService', name: 'backend' }] } }] }] },
  MeshLoadBalancingStrategy: { to: [{ targetRef: backend, default: { loadBalancer: { type: 'RingHash', ringHash: { hashPolicies: [{ type: 'Header', header: { name: 'x-user' } }] } } } }] },
  MeshCircuitBreaker: { targetRef: mesh, to: [{ targetRef: mesh, default: { connectionLimits: { maxConnections: 10 } } }] },
  MeshHealthCheck: { targetRef: mesh, to: [{ targetRef: backend, default: { interval: '10s', http: { path: '/health' } } }] },
  MeshTimeout: { targetRef: mesh, to: [{ targetRef: mesh, default: { connectionTimeout: '2s' } }] },
  MeshRetry: { targetRef: mesh, to: [{ targetRef: backend, default: { http: { numRetries: 2, retryOn: ['5xx', '503'] } } }] },
  MeshFaultInjection: { targetRef: backend, from: [{ targetRef: mesh, default: { http: [{ abort: { httpStatus: 503, percentage: 10 } }] } }] },
  MeshRateLimit: { targetRef: backend, rules: [{ default: { local: { http: { requestRate: { num: 100, interval: '1s' } } } } }] },
  MeshAccessLog: { targetRef: mesh, from: [{ targetRef: mesh, default: { backends: [{ file: { path: '/tmp/in.log' } }] } }] },
  MeshTrace: { targetRef: mesh, default: { backends: [{ type: 'Zipkin', zipkin: { url: 'http://zipkin:9411/api/v2/spans' } }], sampling: { overall: 50 } } },
  MeshMetric: { targetRef: mesh, default: { backends: [{ type: 'Prometheus', prometheus: { port: 5670, path: '/metrics' } }] } },
  MeshProxyPatch: { targetRef: web, default: { appendModifications: [{ cluster: { operation: 'Patch', match: { name: 'backend' }, value: 'connectTimeout: 2s' } }] } },
};

/** [type, what, spec, field, message]: Kuma's refusals, one cause each at least. */
const INVALID: Array<[TargetRefPolicyType, string, Record<string, unknown>, string, RegExp]> = [
  ['MeshTrafficPermission', 'a from without action', { from: [{ targetRef: mesh, default: {} }] }, 'spec.from[0].default.action', /must be defined/],
  ['MeshTrafficPermission', 'an unknown action', { from: [{ targetRef: mesh, default: { action: 'Permit' } }] }, 'spec.from[0].default.action', /must be one of: Allow, Deny, AllowWithShadowDeny/],
  ['MeshTrafficPermission', 'a source by a tag no certificate proves', { from: [{ targetRef: { kind: 'MeshSubset', tags: { version: 'v1' } }, default: { action: 'Allow' } }] }, 'spec.from[0].targetRef.tags', /cannot authorize on: version/],
  ['MeshTrafficPermission', 'rules with from', { from: [{ targetRef: mesh, default: { action: 'Allow' } }], rules: [{ default: { allow: [{ spiffeID: { type: 'Prefix', value: 'spiffe://default/' } }] } }] }, 'spec', /field 'from' must be empty when 'rules' is defined/],
  ['MeshTrafficPermission', 'an empty rule', { rules: [{ default: {} }] }, 'spec.rules[0].default', /at least one of 'allow', 'allowWithShadowDeny', 'deny'/],
  ['MeshTrafficPermission', 'a to section', { to: [{ targetRef: mesh, default: { action: 'Allow' } }] }, 'spec.to', /unknown field/],
  ['MeshHTTPRoute', 'a to of kind Mesh', { to: [{ targetRef: mesh, rules: [] }] }, 'spec.to[0].targetRef.kind', /supported values here: MeshService/],
  ['MeshHTTPRoute', 'a prefix with a trailing slash', { to: [{ targetRef: backend, rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api/' } }], default: {} }] }] }, 'spec.to[0].rules[0].matches[0].path.value', /does not need a trailing slash/],
  ['MeshHTTPRoute', 'an unknown method', { to: [{ targetRef: backend, rules: [{ matches: [{ method: 'FETCH' }], default: {} }] }] }, 'spec.to[0].rules[0].matches[0].method', /must be one of/],
  ['MeshHTTPRoute', 'a filter without its field', { to: [{ targetRef: backend, rules: [{ default: { filters: [{ type: 'RequestRedirect' }] } }] }] }, 'spec.to[0].rules[0].default.filters[0].requestRedirect', /must be defined/],
  ['MeshHTTPRoute', 'a prefix rewrite without prefix matches', { to: [{ targetRef: backend, rules: [{ matches: [{ path: { type: 'Exact', value: '/a' } }], default: { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] } }] }] }, 'spec.to[0].rules[0].default.filters[0].urlRewrite.path.replacePrefixMatch', /all matches match a path prefix/],
  ['MeshHTTPRoute', 'a subset without tags', { to: [{ targetRef: backend, rules: [{ default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'backend' }] } }] }] }, 'spec.to[0].rules[0].default.backendRefs[0].tags', /must be set/],
  ['MeshTCPRoute', 'two rules', { to: [{ targetRef: backend, rules: [{ default: { backendRefs: [backend] } }, { default: { backendRefs: [backend] } }] }] }, 'spec.to[0].rules', /exactly one element/],
  ['MeshTCPRoute', 'no backends', { to: [{ targetRef: backend, rules: [{ default: {} }] }] }, 'spec.to[0].rules[0].default.backendRefs', /must be defined/],
  ['MeshLoadBalancingStrategy', 'an unknown balancer', { to: [{ targetRef: mesh, default: { loadBalancer: { type: 'Fastest' } } }] }, 'spec.to[0].default.loadBalancer.type', /must be one of/],
  ['MeshLoadBalancingStrategy', 'a header hash without its header', { to: [{ targetRef: mesh, default: { hashPolicies: [{ type: 'Header' }] } }] }, 'spec.to[0].default.hashPolicies[0].header', /must be defined with type Header/],
  ['MeshLoadBalancingStrategy', 'a ring smaller than its minimum', { to: [{ targetRef: mesh, default: { loadBalancer: { type: 'RingHash', ringHash: { minRingSize: 100, maxRingSize: 10 } } } }] }, 'spec.to[0].default.loadBalancer.ringHash.minRingSize', /less than or equal to maxRingSize/],
  ['MeshCircuitBreaker', 'an empty default', { to: [{ targetRef: mesh, default: {} }] }, 'spec.to[0].default', /at least one of: 'connectionLimits' or 'outlierDetection'/],
  ['MeshCircuitBreaker', 'a zero connection limit', { to: [{ targetRef: mesh, default: { connectionLimits: { maxConnections: 0 } } }] }, 'spec.to[0].default.connectionLimits.maxConnections', /greater than zero/],
  ['MeshCircuitBreaker', 'an ejection percent over 100', { to: [{ targetRef: mesh, default: { outlierDetection: { maxEjectionPercent: 150 } } }] }, 'spec.to[0].default.outlierDetection.maxEjectionPercent', /less than or equal to 100/],
  ['MeshHealthCheck', 'no checker', { to: [{ targetRef: mesh, default: { interval: '10s' } }] }, 'spec.to[0].default', /at least one defined: http, tcp, grpc/],
  ['MeshHealthCheck', 'a zero interval', { to: [{ targetRef: mesh, default: { interval: '0s', tcp: {} } }] }, 'spec.to[0].default.interval', /greater than zero/],
  ['MeshHealthCheck', 'a status out of range', { to: [{ targetRef: mesh, default: { http: { expectedStatuses: [99] } } }] }, 'spec.to[0].default.http.expectedStatuses[0]', /greater than or equal to 100/],
  // More MeshTimeout refusals in mesh-timeout.test.ts.
  ['MeshTimeout', 'a bad duration', { to: [{ targetRef: mesh, default: { idleTimeout: 'soon' } }] }, 'spec.to[0].default.idleTimeout', /must be a duration/],
  ['MeshRetry', 'an empty default', { to: [{ targetRef: mesh, default: {} }] }, 'spec.to[0].default', /at least one of the 'tcp', 'http', 'grpc'/],
  ['MeshRetry', 'negative retries', { to: [{ targetRef: mesh, default: { http: { numRetries: -1 } } }] }, 'spec.to[0].default.http.numRetries', /greater than or equal to 0/],
  ['MeshRetry', 'an unknown retryOn', { to: [{ targetRef: mesh, default: { http: { retryOn: ['Sometimes'] } } }] }, 'spec.to[0].default.http.retryOn[0]', /unknown item 'Sometimes'/],
  ['MeshRetry', 'an unknown gRPC retryOn', { to: [{ targetRef: mesh, default: { grpc: { retryOn: ['NotFound'] } } }] }, 'spec.to[0].default.grpc.retryOn[0]', /must be one of/],
  ['MeshRetry', 'a from section', { from: [{ targetRef: mesh, default: { tcp: { maxConnectAttempt: 1 } } }] }, 'spec.from', /unknown field/],
  ['MeshRetry', 'no to', { targetRef: mesh }, 'spec.to', /needs at least one item/],
  ['MeshFaultInjection', 'a percentage over 100', { from: [{ targetRef: mesh, default: { http: [{ abort: { httpStatus: 503, percentage: 101 } }] } }] }, 'spec.from[0].default.http[0].abort.percentage', /less than or equal to 100/],
  ['MeshFaultInjection', 'a bandwidth without a unit', { from: [{ targetRef: mesh, default: { http: [{ responseBandwidth: { limit: '100', percentage: 50 } }] } }] }, 'spec.from[0].default.http[0].responseBandwidth.limit', /kbps/],
  ['MeshRateLimit', 'an interval under 50ms', { rules: [{ default: { local: { http: { requestRate: { num: 1, interval: '10ms' } } } } }] }, 'spec.rules[0].default.local.http.requestRate.interval', /greater than: 50ms/],
  ['MeshRateLimit', 'a to section (MeshGateway only)', { to: [{ targetRef: mesh, default: { local: { tcp: { disabled: true } } } }] }, 'spec.to', /unknown field/],
  ['MeshAccessLog', 'two backend kinds in one', { to: [{ targetRef: mesh, default: { backends: [{ file: { path: '/tmp/a' }, tcp: { address: '127.0.0.1:5000' } }] } }] }, 'spec.to[0].default.backends[0]', /only one type/],
  ['MeshAccessLog', 'a relative file path', { to: [{ targetRef: mesh, default: { backends: [{ file: { path: 'logs/a.log' } }] } }] }, 'spec.to[0].default.backends[0].file.path', /absolute path/],
  ['MeshAccessLog', 'a Plain format without plain', { to: [{ targetRef: mesh, default: { backends: [{ file: { path: '/tmp/a', format: { type: 'Plain' } } }] } }] }, 'spec.to[0].default.backends[0].file.format.plain', /must be defined/],
  ['MeshTrace', 'two backends', { default: { backends: [{ type: 'Zipkin', zipkin: { url: 'http://a:1' } }, { type: 'Zipkin', zipkin: { url: 'http://b:1' } }] } }, 'spec.default.backends', /zero or one backend/],
  ['MeshTrace', 'a bad url', { default: { backends: [{ type: 'Datadog', datadog: { url: 'not a url' } }] } }, 'spec.default.backends[0].datadog.url', /valid url/],
  ['MeshTrace', 'a sampling over 100', { default: { sampling: { overall: 200 } } }, 'spec.default.sampling.overall', /less than or equal to 100/],
  ['MeshMetric', 'application metrics (needs kuma-dp)', { default: { applications: [{ path: '/metrics', port: 8080 }] } }, 'spec.default.applications', /not supported by Skiff yet/],
  ['MeshMetric', 'a port out of range', { default: { backends: [{ type: 'Prometheus', prometheus: { port: 70000 } }] } }, 'spec.default.backends[0].prometheus.port', /less than or equal to 65535/],
  ['MeshProxyPatch', 'an Add without value', { default: { appendModifications: [{ cluster: { operation: 'Add' } }] } }, 'spec.default.appendModifications[0].cluster.value', /must be defined with operation Add/],
  ['MeshProxyPatch', 'two kinds in one modification', { default: { appendModifications: [{ cluster: { operation: 'Remove' }, listener: { operation: 'Remove' } }] } }, 'spec.default.appendModifications[0]', /exactly one defined/],
  ['MeshProxyPatch', 'an unknown JSON Patch op', { default: { appendModifications: [{ cluster: { operation: 'Patch', jsonPatches: [{ op: 'merge', path: '/a' }] } }] } }, 'spec.default.appendModifications[0].cluster.jsonPatches[0].op', /must be one of/],
  ['MeshProxyPatch', 'no modifications', { default: { appendModifications: [] } }, 'spec.default.appendModifications', /must not be empty/],
];

describe('the Kuma 2.x targetRef family over the REST API', () => {
  let cp: TestControlPlane;
  before(async () => {
    cp = await startTestControlPlane(undefined);
  });
  after(() => cp.cp.close());

  const send = (method: string, path: string, body?: unknown) => sendJson(cp.api, method, path, body);

  it('has a definition, a valid example and refusals for every type', () => {
    assert.deepEqual(Object.keys(VALID).sort(), [...TARGET_REF_POLICY_TYPES].sort());
    for (const type of TARGET_REF_POLICY_TYPES) assert.ok(INVALID.some(([t]) => t === type), `${type} has refusal cases`);
  });

  it('round-trips every type in Kuma’s Universal form under its plural path, with paging, and deletes it', async () => {
    for (const type of TARGET_REF_POLICY_TYPES) {
      const plural = descriptorOf(type).plural;
      const body = { type, mesh: 'default', name: `example-${plural}`, labels: { team: 'core' }, spec: VALID[type] };
      const put = await send('PUT', `/meshes/default/${plural}/${body.name}`, body);
      assert.equal(put.status, 201, `${type}: ${JSON.stringify(put.json)}`);
      const got = await send('GET', `/meshes/default/${plural}/${body.name}`);
      assert.deepEqual({ type: got.json.type, mesh: got.json.mesh, name: got.json.name, labels: got.json.labels, spec: got.json.spec }, body, type);
      assert.equal((await send('PUT', `/meshes/default/${plural}/${body.name}`, body)).status, 200, `${type} updates`);
      const page = await send('GET', `/meshes/default/${plural}?size=1`);
      assert.equal(page.status, 200, type);
      assert.equal(page.json.items.length, 1, type);
      assert.ok((await send('GET', `/${plural}`)).json.items.some((i: { name: string }) => i.name === body.name), `${type} listed across meshes`);
    }
    const matched = await send('GET', '/meshes/default/dataplanes/web-1/policies');
    assert.equal(matched.status, 404, 'no such dataplane yet');
    const dp = { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 10001, tags: { 'kuma.io/service': 'backend' } }] } };
    assert.equal((await send('PUT', '/meshes/default/dataplanes/web-1', dp)).status, 201);
    const policies = (await send('GET', '/meshes/default/dataplanes/web-1/policies')).json.items as Array<{ type: string; name: string; attachment: { type: string; service?: string } }>;
    const listed = new Set(policies.map((p) => p.type));
    // web-1 is selected by everything above but the policies whose top level is backend.
    for (const type of ['MeshHTTPRoute', 'MeshTCPRoute', 'MeshLoadBalancingStrategy', 'MeshCircuitBreaker', 'MeshHealthCheck', 'MeshTimeout', 'MeshRetry', 'MeshAccessLog', 'MeshTrace', 'MeshMetric', 'MeshProxyPatch']) {
      assert.ok(listed.has(type), `${type} shapes web-1: ${JSON.stringify(policies)}`);
    }
    for (const type of ['MeshTrafficPermission', 'MeshFaultInjection', 'MeshRateLimit']) assert.ok(!listed.has(type), `${type} selects backend, not web`);
    assert.ok(policies.some((p) => p.type === 'MeshHTTPRoute' && p.attachment.type === 'outbound' && p.attachment.service === 'backend'));
    assert.ok(policies.some((p) => p.type === 'MeshTrace' && p.attachment.type === 'dataplane'));
    for (const type of TARGET_REF_POLICY_TYPES) {
      const plural = descriptorOf(type).plural;
      assert.equal((await send('DELETE', `/meshes/default/${plural}/example-${plural}`)).status, 200, type);
      assert.equal((await send('GET', `/meshes/default/${plural}/example-${plural}`)).status, 404, type);
    }
  });

  it('refuses what Kuma refuses, each cause with its field path', async () => {
    for (const [type, what, spec, field, message] of INVALID) {
      const plural = descriptorOf(type).plural;
      const r = await send('PUT', `/meshes/default/${plural}/bad`, { type, mesh: 'default', name: 'bad', spec });
      assert.equal(r.status, 400, `${type} ${what}: ${JSON.stringify(r.json)}`);
      const causes = r.json.causes as Array<{ field: string; message: string }>;
      const cause = causes.find((c) => c.field === field);
      assert.ok(cause, `${type} ${what}: a cause at ${field}, got ${JSON.stringify(causes)}`);
      assert.match(cause.message, message, `${type} ${what}`);
    }
  });

  it('applies, reads and deletes every type with skiffctl', async () => {
    await withSkiffctl(cp.api, async (skiffctl) => {
      const docs = TARGET_REF_POLICY_TYPES.map((type) => toYaml({ type, mesh: 'default', name: `cli-${type.toLowerCase()}`, spec: VALID[type] })).join('---\n');
      const applied = await skiffctl(['apply', '-f', '-'], docs);
      assert.equal(applied.code, 0, applied.stderr);
      for (const type of TARGET_REF_POLICY_TYPES) {
        const got = await skiffctl(['get', descriptorOf(type).plural, '-o', 'json']);
        assert.equal(got.code, 0, got.stderr);
        assert.ok(JSON.parse(got.stdout).items.some((i: { name: string }) => i.name === `cli-${type.toLowerCase()}`), type);
        assert.equal((await skiffctl(['delete', type, `cli-${type.toLowerCase()}`])).code, 0, type);
      }
      const help = await skiffctl(['get', '--help']);
      for (const type of TARGET_REF_POLICY_TYPES) assert.match(help.stdout + help.stderr, new RegExp(`\\b${descriptorOf(type).plural}\\b`), `skiffctl get --help names ${type}`);
      const bad = await skiffctl(['apply', '-f', '-'], toYaml({ type: 'MeshRetry', mesh: 'default', name: 'bad', spec: { to: [{ targetRef: mesh, default: { http: { numRetries: -1 } } }] } }));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /spec\.to\[0\]\.default\.http\.numRetries/);
    });
  });
});

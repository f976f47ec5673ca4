import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { buildMeshSnapshot, type MeshPolicies, type MeshSnapshot } from '../../src/core/mesh-snapshot.js';
import type { ResourceTypeName, StoredResource } from '../../src/core/model.js';
import { descriptorOf, validateResource } from '../../src/core/registry.js';
import { GENERATORS, generateProxyResources } from '../../src/xds/generators/index.js';
import { inboundGenerator } from '../../src/xds/generators/inbound.js';
import { outboundGenerator } from '../../src/xds/generators/outbound.js';
import { targetsKey } from '../../src/xds/generators/routing.js';
import { sharedResource } from '../../src/xds/generators/shared.js';
import { proxylessGenerator } from '../../src/xds/generators/proxyless.js';
import { proxylessServerGenerator } from '../../src/xds/generators/proxyless-server.js';
import type { GeneratedResource, Generator, ProxyIdentityMaterial } from '../../src/xds/generators/types.js';
import { decodeResource, encodeResource } from '../../src/xds/protos.js';
import { SHORT_NAMES, TYPE_URLS } from '../../src/xds/resources.js';
import { pgvViolations } from '../../src/xds/validate-rules.js';

/**
 * Golden tests: testdata/<generator>/NN.<case>.input.yaml → NN.<case>.golden.json, the decoded
 * Envoy resources. Rewrite with UPDATE_GOLDEN_FILES=true and review the diff like code.
 */
const TESTDATA = new URL('../../../test/xds/testdata/', import.meta.url);
const UPDATE = process.env.UPDATE_GOLDEN_FILES === 'true';
const BY_FOLDER: Record<string, readonly Generator[]> = {
  inbound: [inboundGenerator],
  outbound: [outboundGenerator],
  proxyless: [proxylessGenerator],
  'proxyless-server': [proxylessServerGenerator],
  all: GENERATORS,
  mtls: GENERATORS,
  'traffic-route': GENERATORS,
  'health-check': GENERATORS,
  'traffic-log': GENERATORS,
  'proxy-template': GENERATORS,
};
// Every other folder (one per targetRef policy type) runs all generators.

interface Input {
  proxy: string;
  proxyless?: boolean;
  /** Envoy's admin port as the proxy's bootstrap declares it. */
  adminPort?: number;
  identity?: { spiffeId: string; certPem: string; keyPem: string; caPem: string };
  permissions?: Array<Record<string, unknown>>;
  routes?: Array<Record<string, unknown>>;
  healthChecks?: Array<Record<string, unknown>>;
  trafficLogs?: Array<Record<string, unknown>>;
  proxyTemplates?: Array<Record<string, unknown>>;
  /** Kuma 2.x targetRef policies of any type (each names its `type`). */
  policies?: Array<Record<string, unknown>>;
  mesh: Record<string, unknown>;
  dataplanes: Array<Record<string, unknown>>;
}

function stored(body: Record<string, unknown>): StoredResource {
  const type = body.type as ResourceTypeName;
  const result = validateResource(descriptorOf(type), { mesh: String(body.mesh ?? ''), name: String(body.name) }, body);
  assert.ok(result.ok, `test input ${String(body.name)} is not a valid ${type}: ${JSON.stringify(!result.ok && result.causes)}`);
  return { ...result.resource, version: 1, creationTime: '2026-01-01T00:00:00.000Z', modificationTime: '2026-01-01T00:00:00.000Z' };
}

function byType(resources: StoredResource[]): MeshPolicies['targetRef'] {
  const out: Record<string, StoredResource[]> = {};
  for (const r of resources) (out[r.type] ??= []).push(r);
  return out;
}

function meshOf(input: Input): MeshSnapshot {
  return buildMeshSnapshot(stored(input.mesh), input.dataplanes.map(stored), undefined, { permissions: (input.permissions ?? []).map(stored), routes: (input.routes ?? []).map(stored), healthChecks: (input.healthChecks ?? []).map(stored), trafficLogs: (input.trafficLogs ?? []).map(stored), proxyTemplates: (input.proxyTemplates ?? []).map(stored), targetRef: byType((input.policies ?? []).map(stored)) });
}

/** Paths of the source object that did not survive encoding: fields the proto does not have. */
function lostFields(source: unknown, decoded: unknown, path = ''): string[] {
  if (source === null || typeof source !== 'object') return [];
  if (Array.isArray(source)) return source.flatMap((item, i) => lostFields(item, (decoded as unknown[] | undefined)?.[i], `${path}[${i}]`));
  const out: string[] = [];
  for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
    const there = (decoded as Record<string, unknown> | undefined)?.[key];
    const empty = value === '' || value === 0 || value === false || (Array.isArray(value) && value.length === 0);
    if (there === undefined && !empty && !(typeof value === 'object' && value !== null && Object.keys(value).length === 0)) out.push(`${path}.${key}`);
    else out.push(...lostFields(value, there, `${path}.${key}`));
  }
  return out;
}

function checkEncodable(resources: GeneratedResource[]): Record<string, Record<string, unknown>> {
  const golden: Record<string, Record<string, unknown>> = {};
  for (const r of [...resources].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const bytes = encodeResource(r.typeUrl, r.resource);
    const decoded = decodeResource(r.typeUrl, bytes);
    assert.deepEqual(lostFields(r.resource, decoded), [], `${r.typeUrl} ${r.name} has fields its proto does not`);
    assert.deepEqual(pgvViolations(r.typeUrl, bytes), [], `${r.typeUrl} ${r.name} violates Envoy's validate.rules`);
    const short = SHORT_NAMES[r.typeUrl];
    (golden[short] ??= {})[r.name] = decoded;
  }
  return golden;
}

describe('xDS generators (golden files)', () => {
  for (const folder of readdirSync(TESTDATA)) {
    for (const file of readdirSync(new URL(`${folder}/`, TESTDATA)).filter((f) => f.endsWith('.input.yaml')).sort()) {
      it(`${folder}/${file}`, () => {
        const input = parseYaml(readFileSync(new URL(`${folder}/${file}`, TESTDATA), 'utf8')) as Input;
        const mesh = meshOf(input);
        const proxy = { nodeId: `default.${input.proxy}`, dataplane: mesh.dataplanes.get(input.proxy)!, proxyless: input.proxyless ?? false, identity: input.identity, ...(input.adminPort ? { adminPort: input.adminPort } : {}) };
        assert.ok(proxy.dataplane, `proxy ${input.proxy} is not among the dataplanes`);
        const resources = generateProxyResources(proxy, mesh, BY_FOLDER[folder] ?? GENERATORS);
        assert.ok(resources.length > 0, 'generated nothing');
        const actual = checkEncodable(resources);
        const goldenUrl = new URL(`${folder}/${file.replace('.input.yaml', '.golden.json')}`, TESTDATA);
        const text = JSON.stringify(actual, null, 2) + '\n';
        if (UPDATE) writeFileSync(goldenUrl, text);
        assert.ok(existsSync(goldenUrl), `missing golden file ${goldenUrl.pathname}: run with UPDATE_GOLDEN_FILES=true and review it`);
        assert.deepEqual(actual, JSON.parse(readFileSync(goldenUrl, 'utf8')));
        // Pure: the same input gives the same output.
        assert.deepEqual(checkEncodable(generateProxyResources(proxy, meshOf(input), BY_FOLDER[folder] ?? GENERATORS)), actual);
      });
    }
  }

  it('hands every proxy of a mesh the same cluster and endpoint objects for a service', () => {
    const input = parseYaml(readFileSync(new URL('outbound/01.backend-1.input.yaml', TESTDATA), 'utf8')) as Input;
    input.dataplanes.push({ ...input.dataplanes[0]!, name: 'backend-2' });
    const mesh = meshOf(input);
    const a = generateProxyResources({ nodeId: 'default.backend-1', dataplane: mesh.dataplanes.get('backend-1')!, proxyless: false }, mesh);
    const b = generateProxyResources({ nodeId: 'default.backend-2', dataplane: mesh.dataplanes.get('backend-2')!, proxyless: false }, mesh);
    const pick = (list: GeneratedResource[]) => list.find((r) => r.typeUrl === TYPE_URLS.endpoint && r.name === 'redis')!.resource;
    assert.equal(pick(a), pick(b));
  });

  it('shares outbound listeners and routes between proxies with the same inputs, and a policy selecting one proxy changes only its own', () => {
    // web-to-backend (1 s request timeout) selects the web proxies; other-1 calls backend on the same port with only "all" (5 s).
    const input = parseYaml(readFileSync(new URL('mesh-timeout/01.outbound-merge.input.yaml', TESTDATA), 'utf8')) as Input;
    const web1 = input.dataplanes[0] as { networking: Record<string, unknown> };
    input.dataplanes.push({ ...web1, name: 'web-2', networking: { ...web1.networking, address: '10.0.0.4' } });
    input.dataplanes.push({ ...web1, name: 'other-1', networking: { ...web1.networking, address: '10.0.0.5', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'other', 'kuma.io/protocol': 'http' } }] } });
    const mesh = meshOf(input);
    const generate = (name: string) => generateProxyResources({ nodeId: `default.${name}`, dataplane: mesh.dataplanes.get(name)!, proxyless: false }, mesh);
    const pick = (list: GeneratedResource[], typeUrl: string, name: string) => list.find((r) => r.typeUrl === typeUrl && r.name === name)!.resource as Record<string, any>;
    const timeoutOf = (list: GeneratedResource[]) => pick(list, TYPE_URLS.route, 'outbound:backend').virtual_hosts[0].routes[0].route.timeout;
    const [w1, w2, other] = [generate('web-1'), generate('web-2'), generate('other-1')];
    assert.equal(pick(w1, TYPE_URLS.route, 'outbound:backend'), pick(w2, TYPE_URLS.route, 'outbound:backend'), 'one route object for both web proxies');
    assert.equal(pick(w1, TYPE_URLS.listener, 'outbound:127.0.0.1:10001'), pick(w2, TYPE_URLS.listener, 'outbound:127.0.0.1:10001'), 'one listener object for both web proxies');
    assert.deepEqual(timeoutOf(w1), { seconds: 1, nanos: 0 });
    assert.deepEqual(timeoutOf(other), { seconds: 5, nanos: 0 });
    assert.deepEqual(timeoutOf(generate('web-1')), { seconds: 1, nanos: 0 }, 'generating other-1 left what web-1 shares untouched');
    assert.deepEqual(checkEncodable(other)['rds'], checkEncodable(generateProxyResources({ nodeId: 'default.other-1', dataplane: meshOf(input).dataplanes.get('other-1')!, proxyless: false }, meshOf(input)))['rds'], 'the same as other-1 generated alone');
  });

  it('keys shared resources by all their parts: equal parts share one object, a differing part or snapshot builds another', () => {
    const input = parseYaml(readFileSync(new URL('outbound/01.backend-1.input.yaml', TESTDATA), 'utf8')) as Input;
    const [mesh, other] = [meshOf(input), meshOf(input)];
    let built = 0;
    const build = (): GeneratedResource => ({ typeUrl: TYPE_URLS.route, name: `r${++built}`, resource: {} });
    const a = sharedResource(mesh, ['route', 'backend', ''], build);
    assert.equal(sharedResource(mesh, ['route', 'backend', ''], build), a);
    assert.notEqual(sharedResource(mesh, ['route', 'backend', '[{"cluster":"backend[version=v2]"}]'], build), a);
    assert.notEqual(sharedResource(mesh, ['route', 'backend'], build), a, 'a shorter key is another key');
    assert.notEqual(sharedResource(mesh, ['local cluster', '127.0.0.1', 8080, true], build), sharedResource(mesh, ['local cluster', '127.0.0.1', 8080, false], build));
    assert.notEqual(sharedResource(other, ['route', 'backend', ''], build), a, 'per mesh snapshot');
    assert.equal(built, 6);
  });

  it("keys route targets as '' for all of the service, and apart for every split", () => {
    const all = [{ cluster: 'backend', service: 'backend', subset: {}, weight: 100 }];
    assert.equal(targetsKey(all, 'backend'), '');
    assert.notEqual(targetsKey(all, 'web'), '', 'another service is not its own default');
    const split = (v2: number) => [
      { cluster: 'backend[version=v1]', service: 'backend', subset: { version: 'v1' }, weight: 100 - v2 },
      { cluster: 'backend[version=v2]', service: 'backend', subset: { version: 'v2' }, weight: v2 },
    ];
    assert.notEqual(targetsKey(split(10), 'backend'), targetsKey(split(20), 'backend'));
    assert.equal(targetsKey(split(10), 'backend'), targetsKey(split(10), 'backend'));
    assert.notEqual(targetsKey([{ cluster: 'backend[version=v1]', service: 'backend', subset: { version: 'v1' }, weight: 100 }], 'backend'), '');
  });

  it('gives a proxy the same secret objects while its identity stays, and every proxy of the CA one trust bundle object', () => {
    const input = parseYaml(readFileSync(new URL('mtls/01.two-permissions.input.yaml', TESTDATA), 'utf8')) as Input;
    const mesh = meshOf(input);
    const dataplane = mesh.dataplanes.get(input.proxy)!;
    const secrets = (identity: ProxyIdentityMaterial) => generateProxyResources({ nodeId: `default.${input.proxy}`, dataplane, proxyless: false, identity }, mesh).filter((r) => r.typeUrl === TYPE_URLS.secret);
    const first = { ...input.identity! };
    const [a, again, renewed] = [secrets(first), secrets(first), secrets({ ...first, certPem: first.certPem.replace('-----END', 'x\n-----END') })];
    assert.deepEqual(a.map((r) => r.name), ['identity_cert:secret:default', 'mesh_ca:secret:default']);
    assert.equal(again[0]!.resource, a[0]!.resource, 'the same identity, the same object');
    assert.equal(again[1]!.resource, a[1]!.resource);
    assert.notEqual(renewed[0]!.resource, a[0]!.resource, 'a new certificate, a new object');
    assert.notDeepEqual(checkEncodable(renewed)['sds'], checkEncodable(a)['sds']);
    assert.equal(renewed[1]!.resource, a[1]!.resource, 'the same CA, the same trust bundle object');
  });

  it('names the generator that failed', () => {
    const input = parseYaml(readFileSync(new URL('all/01.web-01.input.yaml', TESTDATA), 'utf8')) as Input;
    const mesh = meshOf(input);
    const broken: Generator = { name: 'broken', generate: () => { throw new Error('boom'); } };
    assert.throws(() => generateProxyResources({ nodeId: 'default.web-01', dataplane: mesh.dataplanes.get('web-01')!, proxyless: false }, mesh, [broken]), /generator "broken" failed for default\.web-01: boom/);
  });

  it('the validate.rules checker catches violations (it can fail)', () => {
    const bad = encodeResource(TYPE_URLS.cluster, { name: 'x', type: 'EDS', connect_timeout: { seconds: 0 }, eds_cluster_config: { eds_config: { ads: {} } } });
    assert.ok(pgvViolations(TYPE_URLS.cluster, bad).some((v) => v.startsWith('connect_timeout')));
    const noName = encodeResource(TYPE_URLS.endpoint, { endpoints: [] });
    assert.ok(pgvViolations(TYPE_URLS.endpoint, noName).some((v) => v.startsWith('cluster_name')));
    const badListener = encodeResource(TYPE_URLS.listener, {
      name: 'l',
      address: { socket_address: { address: '', port_value: 70000 } },
      filter_chains: [{ filters: [{ name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', cluster: 'c' } }] }],
    });
    const found = pgvViolations(TYPE_URLS.listener, badListener);
    assert.ok(found.some((v) => v.includes('socket_address.address')), found.join('; '));
    assert.ok(found.some((v) => v.includes('port_value')), found.join('; '));
    assert.ok(found.some((v) => v.includes('stat_prefix')), found.join('; '));
  });
});

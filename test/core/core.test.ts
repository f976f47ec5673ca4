import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../src/core/duration.js';
import { checkName } from '../../src/core/names.js';
import { RESOURCE_TYPES, validateResource } from '../../src/core/registry.js';
import { normalizeDataplane } from '../../src/core/resources/dataplane.js';
import { meshMtlsBackend } from '../../src/core/resources/mesh.js';
import { matchesSelector, serviceOf } from '../../src/core/tags.js';

const descriptor = (name: string) => RESOURCE_TYPES.find((d) => d.name === name)!;

describe('core', () => {
  it('parses Go-style durations and rejects the rest', () => {
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    for (const bad of ['', '10', '10 s', '-1s', 's', '1d', '1s '] as const) assert.equal(parseDuration(bad), undefined, bad);
  });

  it('checks names with Kuma’s rule', () => {
    for (const ok of ['a', 'backend-1', 'web.v2', 'a_b', '0x']) assert.equal(checkName(ok), undefined, ok);
    for (const bad of ['', 'Backend', '-a', 'a b', 'a/b', 'ä', 'x'.repeat(254)]) assert.notEqual(checkName(bad), undefined, bad);
  });

  it('matches selectors with wildcards and both service tag spellings', () => {
    const tags = { service: 'web', version: 'v1' };
    assert.equal(serviceOf(tags), 'web');
    assert.equal(serviceOf({ 'kuma.io/service': 'db', service: 'x' }), 'db');
    assert.ok(matchesSelector({ 'kuma.io/service': 'web' }, tags));
    assert.ok(matchesSelector({ service: '*', version: 'v1' }, tags));
    assert.ok(!matchesSelector({ service: 'web', version: 'v2' }, tags));
    assert.ok(!matchesSelector({ region: '*' }, tags));
  });

  it('normalises the 0.3 interface form and the current form to one shape', () => {
    const legacy = normalizeDataplane({
      networking: {
        inbound: [{ interface: '127.0.0.1:9000:6379', tags: { service: 'redis' } }],
        outbound: [{ interface: ':10000', service: 'backend' }],
      },
    });
    const current = normalizeDataplane({
      networking: {
        address: '127.0.0.1',
        inbound: [{ port: 9000, servicePort: 6379, tags: { 'kuma.io/service': 'redis' } }],
        outbound: [{ port: 10000, tags: { 'kuma.io/service': 'backend' } }],
      },
    });
    assert.deepEqual(legacy.inbound.map(({ tags: _t, ...rest }) => rest), current.inbound.map(({ tags: _t, ...rest }) => rest));
    assert.deepEqual(legacy.inbound[0], { address: '127.0.0.1', port: 9000, servicePort: 6379, serviceAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', ready: true, tags: { service: 'redis' }, service: 'redis' });
    assert.deepEqual(legacy.outbound, [{ address: '127.0.0.1', port: 10000, service: 'backend', tags: {} }]);
    assert.equal(current.outbound[0]!.service, 'backend');
    assert.equal(legacy.address, '127.0.0.1');
    const ipv6 = normalizeDataplane({ networking: { inbound: [{ interface: '[::1]:9000:80', tags: { service: 'a' } }] } });
    assert.equal(ipv6.inbound[0]!.address, '::1');
  });

  it('reads the mTLS backend from both Mesh forms', () => {
    assert.deepEqual(meshMtlsBackend({ mtls: { enabled: true, ca: { builtin: {} } } }), { name: 'ca-1', type: 'builtin', certValidityMs: 86_400_000, conf: {} });
    assert.equal(meshMtlsBackend({ mtls: { enabled: false, ca: { builtin: {} } } }), undefined);
    assert.deepEqual(meshMtlsBackend({ mtls: { enabledBackend: 'p', backends: [{ name: 'p', type: 'provided', dpCert: { rotation: { expiration: '10s' } }, conf: { cert: { secret: 'c' } } }] } }), {
      name: 'p',
      type: 'provided',
      certValidityMs: 10_000,
      conf: { cert: { secret: 'c' } },
    });
    assert.equal(meshMtlsBackend({}), undefined);
  });

  it('collects every problem of a resource at once, with precise paths', () => {
    const result = validateResource(descriptor('Dataplane'), { mesh: 'default', name: 'dp' }, {
      networking: {
        address: '10.0.0.1',
        inbound: [{ port: 70000, tags: {} }, { port: 80, tags: { 'kuma.io/service': 'ok' } }],
        outbound: [{ port: 10000 }],
      },
    });
    assert.equal(result.ok, false);
    const fields = result.ok ? [] : result.causes.map((c) => c.field);
    assert.deepEqual(fields, ['networking.inbound[0].port', 'networking.inbound[0].tags["kuma.io/service"]', 'networking.outbound[0].service']);
  });

  it('accepts the current TrafficRoute and HealthCheck forms too', () => {
    const tr = validateResource(descriptor('TrafficRoute'), { mesh: 'm', name: 'r' }, {
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': '*' } }],
      conf: { split: [{ weight: 1, destination: { 'kuma.io/service': 'b' } }], loadBalancer: { roundRobin: {} } },
    });
    assert.ok(tr.ok, JSON.stringify(tr));
    const hc = validateResource(descriptor('HealthCheck'), { mesh: 'm', name: 'h' }, {
      sources: [{ match: { 'kuma.io/service': '*' } }],
      destinations: [{ match: { 'kuma.io/service': '*' } }],
      conf: { interval: '10s', timeout: '2s', unhealthyThreshold: 3, healthyThreshold: 1 },
    });
    assert.ok(hc.ok, JSON.stringify(hc));
  });
});

describe('mesh snapshot diff', () => {
  const now = '2026-01-01T00:00:00.000Z';
  const mesh = { type: 'Mesh' as const, mesh: '', name: 'default', spec: {}, version: 1, creationTime: now, modificationTime: now };
  const dp = (name: string, version: number, service: string, address: string, outbound: string[] = []) => ({
    type: 'Dataplane' as const,
    mesh: 'default',
    name,
    version,
    creationTime: now,
    modificationTime: now,
    spec: { networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service } }], outbound: outbound.map((s, i) => ({ port: 10000 + i, tags: { 'kuma.io/service': s } })) } },
  });

  it('finds the services and dataplanes that changed, and which proxies that can affect', async () => {
    const { buildMeshSnapshot, diffMeshSnapshots, affects } = await import('../../src/core/mesh-snapshot.js');
    const before = buildMeshSnapshot(mesh, [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('db-client', 1, 'x', '10.0.0.9', ['db']), dp('backend-1', 1, 'backend', '10.0.0.2')]);
    const after = buildMeshSnapshot(mesh, [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('db-client', 1, 'x', '10.0.0.9', ['db']), dp('backend-1', 2, 'backend', '10.0.0.3')], before);
    const delta = diffMeshSnapshots(before, after);
    assert.deepEqual([...delta.services], ['backend']);
    assert.deepEqual([...delta.dataplanes], ['backend-1']);
    assert.equal(delta.mesh, false);
    assert.equal(after.dataplanes.get('web-1'), before.dataplanes.get('web-1'), 'unchanged dataplanes are reused');
    assert.ok(affects(delta, after.dataplanes.get('web-1')!, false), 'web-1 consumes backend');
    assert.ok(!affects(delta, after.dataplanes.get('db-client')!, false), 'db-client does not');
    assert.ok(affects(delta, after.dataplanes.get('backend-1')!, false), 'backend-1 itself changed');
    assert.ok(affects(delta, after.dataplanes.get('db-client')!, true), 'proxyless clients see every service');
    const same = diffMeshSnapshots(after, buildMeshSnapshot(mesh, [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('db-client', 1, 'x', '10.0.0.9', ['db']), dp('backend-1', 2, 'backend', '10.0.0.3')], after));
    assert.deepEqual([same.services.size, same.dataplanes.size, same.mesh], [0, 0, false]);
    const meshChanged = diffMeshSnapshots(after, buildMeshSnapshot({ ...mesh, spec: { mtls: {} } }, [], after));
    assert.equal(meshChanged.mesh, true);
  });

  it('rebuilt from the previous snapshot, equals a fresh build; with no dataplane changed, shares its views', async () => {
    const { buildMeshSnapshot, diffMeshSnapshots } = await import('../../src/core/mesh-snapshot.js');
    const views = (s: ReturnType<typeof buildMeshSnapshot>) => ({
      dataplanes: [...s.dataplanes.keys()],
      endpoints: [...s.endpoints],
      protocols: [...s.protocols],
      signatures: [...s.serviceSignatures],
    });
    const first = [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('backend-2', 1, 'backend', '10.0.0.3'), dp('backend-1', 1, 'backend', '10.0.0.2'), dp('db-1', 1, 'db', '10.0.0.9')];
    const before = buildMeshSnapshot(mesh, first);
    // One changed, one removed, one added (its name sorts first), one kept.
    const second = [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('backend-2', 2, 'backend', '10.0.0.4'), dp('a-cache-1', 1, 'cache', '10.0.0.7'), dp('db-1', 1, 'db', '10.0.0.9')];
    const after = buildMeshSnapshot(mesh, second, before);
    assert.deepEqual(views(after), views(buildMeshSnapshot(mesh, second)));
    assert.equal(after.serviceSignatures.get('db'), before.serviceSignatures.get('db'), "an untouched service's signature is kept");
    assert.deepEqual([...diffMeshSnapshots(before, after).services].sort(), ['backend', 'cache']);

    const route = { type: 'TrafficRoute' as const, mesh: 'default', name: 'r', version: 1, creationTime: now, modificationTime: now, spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': 'db' } }], conf: { destination: { 'kuma.io/service': 'db' } } } };
    const routed = buildMeshSnapshot(mesh, [...second].reverse(), after, { routes: [route] });
    assert.equal(routed.dataplanes, after.dataplanes, 'a policy change keeps the dataplane map');
    assert.equal(routed.serviceSignatures, after.serviceSignatures);
    assert.equal(routed.endpoints, after.endpoints);
    const delta = diffMeshSnapshots(after, routed);
    assert.deepEqual([[...delta.services], delta.dataplanes.size], [['db'], 0]);
  });

  it('narrows policy changes to the proxies calling (or serving) the services they select', async () => {
    const { buildMeshSnapshot, diffMeshSnapshots, affects } = await import('../../src/core/mesh-snapshot.js');
    const dps = [dp('web-1', 1, 'web', '10.0.0.1', ['backend']), dp('db-client', 1, 'x', '10.0.0.9', ['db']), dp('backend-1', 1, 'backend', '10.0.0.2'), dp('canary-1', 1, 'canary', '10.0.0.4')];
    const policy = (name: string, destination: string, extra: Record<string, unknown> = {}) => ({ type: 'TrafficRoute' as const, mesh: 'default', name, version: 1, creationTime: now, modificationTime: now, spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': destination } }], ...extra } });
    const base = buildMeshSnapshot(mesh, dps);
    const routed = buildMeshSnapshot(mesh, dps, base, { routes: [policy('to-backend', 'backend', { conf: { split: [{ weight: 100, destination: { 'kuma.io/service': 'canary' } }] } })] });
    const route = diffMeshSnapshots(base, routed);
    assert.equal(route.mesh, false, 'a TrafficRoute for one service is not a mesh-wide change');
    assert.deepEqual([...route.services], ['backend']);
    assert.ok(affects(route, routed.dataplanes.get('web-1')!, false), 'web-1 calls backend');
    assert.ok(!affects(route, routed.dataplanes.get('db-client')!, false), 'db-client does not');

    // The route sends backend's traffic to canary: canary's endpoints now matter to backend's callers.
    const moved = buildMeshSnapshot(mesh, [...dps.slice(0, 3), dp('canary-1', 2, 'canary', '10.0.0.5')], routed, { routes: [policy('to-backend', 'backend', { conf: { split: [{ weight: 100, destination: { 'kuma.io/service': 'canary' } }] } })] });
    assert.ok(affects(diffMeshSnapshots(routed, moved), moved.dataplanes.get('web-1')!, false), 'a split target’s endpoints reach the callers of the routed service');

    const wildcard = buildMeshSnapshot(mesh, dps, base, { healthChecks: [{ ...policy('hc', '*'), type: 'HealthCheck' as const, spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }], conf: { interval: '10s', timeout: '2s', unhealthyThreshold: 3, healthyThreshold: 1 } } }] });
    assert.equal(diffMeshSnapshots(base, wildcard).mesh, true, 'a policy for every destination concerns every proxy');

    const permitted = buildMeshSnapshot(mesh, dps, base, { permissions: [{ ...policy('tp', 'backend'), type: 'TrafficPermission' as const }] });
    const permission = diffMeshSnapshots(base, permitted);
    assert.equal(permission.mesh, false);
    assert.ok(affects(permission, permitted.dataplanes.get('backend-1')!, false), 'backend-1 serves backend: its inbound RBAC changes');
    assert.ok(!affects(permission, permitted.dataplanes.get('web-1')!, false), 'web-1 is not concerned');
  });
});

describe('connection policy selection', () => {
  it('picks the most specific source, then destination, and breaks ties by name', async () => {
    const { selectConnectionPolicy, specificity } = await import('../../src/core/policy-matching.js');
    assert.equal(specificity({ 'kuma.io/service': 'web', version: 'v1' }), 4);
    assert.equal(specificity({ 'kuma.io/service': '*' }), 1);
    const p = (name: string, source: Record<string, string>, destination: Record<string, string>) => ({ name, sources: [source], destinations: [destination] });
    const policies = [
      p('any', { 'kuma.io/service': '*' }, { 'kuma.io/service': '*' }),
      p('web', { 'kuma.io/service': 'web' }, { 'kuma.io/service': '*' }),
      p('web-v1', { 'kuma.io/service': 'web', version: 'v1' }, { 'kuma.io/service': '*' }),
      p('web-to-backend', { 'kuma.io/service': 'web' }, { 'kuma.io/service': 'backend' }),
      p('b-tie', { 'kuma.io/service': 'db' }, { 'kuma.io/service': 'x' }),
      p('a-tie', { 'kuma.io/service': 'db' }, { 'kuma.io/service': 'x' }),
    ];
    const to = (service: string) => ({ 'kuma.io/service': service });
    assert.equal(selectConnectionPolicy(policies, [{ 'kuma.io/service': 'web', version: 'v1' }], to('backend'))?.name, 'web-v1', 'source specificity first');
    assert.equal(selectConnectionPolicy(policies, [{ 'kuma.io/service': 'web', version: 'v2' }], to('backend'))?.name, 'web-to-backend', 'then destination specificity');
    assert.equal(selectConnectionPolicy(policies, [{ 'kuma.io/service': 'web' }], to('cache'))?.name, 'web');
    assert.equal(selectConnectionPolicy(policies, [{ 'kuma.io/service': 'other' }], to('cache'))?.name, 'any');
    assert.equal(selectConnectionPolicy(policies, [{ 'kuma.io/service': 'db' }], to('x'))?.name, 'a-tie', 'ties: the name that sorts first');
    assert.equal(selectConnectionPolicy(policies.slice(1), [{ 'kuma.io/service': 'other' }], to('cache')), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMeshSnapshot, diffMeshSnapshots } from '../../src/core/mesh-snapshot.js';
import { ResourceEncoder, type Snapshot } from '../../src/xds/cache/snapshot.js';
import { endpointOnlyServices, patchLoadAssignments } from '../../src/xds/endpoint-patch.js';
import { generateProxyResources } from '../../src/xds/generators/index.js';

const now = '2026-01-01T00:00:00.000Z';
const meta = { version: 1, creationTime: now, modificationTime: now };
const mesh = { type: 'Mesh' as const, mesh: '', name: 'default', spec: {}, ...meta };
const dp = (name: string, service: string, address: string, tags: Record<string, string> = {}, outbound: string[] = [], version = 1) => ({
  type: 'Dataplane' as const,
  mesh: 'default',
  name,
  ...meta,
  version,
  spec: { networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service, 'kuma.io/protocol': 'http', ...tags } }], outbound: outbound.map((s, i) => ({ port: 10000 + i, tags: { 'kuma.io/service': s } })) } },
});
const route = {
  type: 'TrafficRoute' as const,
  mesh: 'default',
  name: 'split-backend',
  ...meta,
  spec: { sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }], conf: { split: [{ weight: 90, destination: { 'kuma.io/service': 'backend', version: 'v1' } }, { weight: 10, destination: { 'kuma.io/service': 'backend', version: 'v2' } }] } },
};

const versions = (s: Snapshot) => Object.fromEntries([...s.resources].map(([type, byName]) => [type, Object.fromEntries([...byName].map(([n, r]) => [n, r.version]))]));

describe('endpoint-only changes', () => {
  it('patch a proxy’s ClusterLoadAssignments to exactly what regenerating it would give', () => {
    const web = dp('web-1', 'web', '10.0.0.1', {}, ['backend', 'db']);
    const before = buildMeshSnapshot(mesh, [web, dp('backend-1', 'backend', '10.0.0.2', { version: 'v1' }), dp('db-1', 'db', '10.0.0.9')], undefined, { routes: [route] });
    const after = buildMeshSnapshot(mesh, [web, dp('backend-1', 'backend', '10.0.0.2', { version: 'v1' }), dp('backend-2', 'backend', '10.0.0.3', { version: 'v2' }), dp('db-1', 'db', '10.0.0.9')], before, { routes: [route] });
    const encoder = new ResourceEncoder();
    const proxy = (m: typeof before) => ({ nodeId: 'default.web-1', dataplane: m.dataplanes.get('web-1')!, proxyless: false });
    const current = encoder.snapshot(generateProxyResources(proxy(before), before));
    const delta = diffMeshSnapshots(before, after);
    const services = endpointOnlyServices(before, after, delta);
    assert.deepEqual([...services], ['backend']);
    const patched = patchLoadAssignments(current, after, services, encoder);
    assert.ok(patched && patched !== current);
    const regenerated = encoder.snapshot(generateProxyResources(proxy(after), after));
    assert.deepEqual(versions(patched), versions(regenerated), 'the patched snapshot equals a regenerated one');
    assert.notDeepEqual(versions(patched), versions(current), 'and differs from before: backend[version=v2] has an endpoint now');
    for (const [type, byName] of patched.resources) {
      if (!type.endsWith('ClusterLoadAssignment')) assert.equal(byName, current.resources.get(type), `${type} is shared with the previous snapshot`);
    }
  });

  it('are not patched when a protocol changes, a service appears, or a ProxyTemplate is in play', () => {
    const web = dp('web-1', 'web', '10.0.0.1', {}, ['backend']);
    const before = buildMeshSnapshot(mesh, [web, dp('backend-1', 'backend', '10.0.0.2')]);
    const protocol = buildMeshSnapshot(mesh, [web, { ...dp('backend-1', 'backend', '10.0.0.2'), version: 2, spec: { networking: { address: '10.0.0.2', inbound: [{ port: 80, tags: { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'tcp' } }] } } }], before);
    assert.equal(endpointOnlyServices(before, protocol, diffMeshSnapshots(before, protocol)).size, 0);
    const appeared = buildMeshSnapshot(mesh, [web, dp('backend-1', 'backend', '10.0.0.2'), dp('cache-1', 'cache', '10.0.0.7')], before);
    assert.equal(endpointOnlyServices(before, appeared, diffMeshSnapshots(before, appeared)).size, 0);
    const templated = buildMeshSnapshot(mesh, [web, dp('backend-1', 'backend', '10.0.0.2'), dp('backend-2', 'backend', '10.0.0.3')], before, {
      proxyTemplates: [{ type: 'ProxyTemplate' as const, mesh: 'default', name: 'pt', ...meta, spec: { selectors: [{ match: { 'kuma.io/service': '*' } }], conf: { imports: ['default-proxy'] } } }],
    });
    const encoder = new ResourceEncoder();
    const current = encoder.snapshot(generateProxyResources({ nodeId: 'default.web-1', dataplane: before.dataplanes.get('web-1')!, proxyless: false }, before));
    assert.equal(patchLoadAssignments(current, templated, new Set(['backend']), encoder), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredResource } from '../../src/core/model.js';
import { buildMeshSnapshot } from '../../src/core/mesh-snapshot.js';
import { rbacFilter } from '../../src/xds/generators/permissions.js';

const at = '2026-01-01T00:00:00.000Z';
const resource = (type: StoredResource['type'], name: string, spec: Record<string, unknown>): StoredResource => ({ type, mesh: type === 'Mesh' ? '' : 'default', name, spec, version: 1, creationTime: at, modificationTime: at });

/** The principals the RBAC filter of backend's inbound allows, per policy. */
function allowed(permissions: Array<[string, Array<Record<string, string>>]>) {
  // Stored as they are, without admission: rules written before admission refused them must not widen either.
  const stored = permissions.map(([name, sources]) => resource('TrafficPermission', name, { sources: sources.map((match) => ({ match })), destinations: [{ match: { 'kuma.io/service': 'backend' } }] }));
  const mesh = buildMeshSnapshot(resource('Mesh', 'default', { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }), [], undefined, { permissions: stored });
  const filter = rbacFilter(mesh, { 'kuma.io/service': 'backend' }, 'inbound') as { typed_config: { rules: { policies: Record<string, { principals: Array<{ authenticated: { principal_name: Record<string, string> } }> }> } } };
  return Object.fromEntries(Object.entries(filter.typed_config.rules.policies).map(([name, p]) => [name, p.principals.map((x) => x.authenticated.principal_name)]));
}

describe('TrafficPermission RBAC never grants more than the selector states', () => {
  it('allows exactly the named service, or the whole mesh for *', () => {
    assert.deepEqual(allowed([['web', [{ 'kuma.io/service': 'web' }]], ['any', [{ service: '*' }]]]), {
      any: [{ prefix: 'spiffe://default/' }],
      web: [{ exact: 'spiffe://default/web' }],
    });
  });

  it('drops a source whose other tags a certificate cannot prove, instead of admitting every caller of the service', () => {
    assert.deepEqual(allowed([['web-v1', [{ 'kuma.io/service': 'web', version: 'v1' }, { 'kuma.io/service': 'admin' }]]]), { 'web-v1': [{ exact: 'spiffe://default/admin' }] });
  });

  it('drops a source without a service tag instead of admitting any identity, and a policy left with none', () => {
    assert.deepEqual(allowed([['v1', [{ version: 'v1' }]]]), {});
  });
});

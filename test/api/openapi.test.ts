import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { RESOURCE_TYPES } from '../../src/core/registry.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

const COMMITTED = new URL('../../../docs/openapi.yaml', import.meta.url);

describe('OpenAPI document', () => {
  it('is served at GET /openapi.json, describes every route, and matches the committed docs/openapi.yaml', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN: 'false' });
    const r = await fetch(`${cp.api}/openapi.json`);
    assert.equal(r.status, 200, 'public, like Kuma’s own API description');
    const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> }>> };
    assert.equal(doc.openapi, '3.0.3');

    // Every resource type's routes, listed from the type registry rather than from the document's own source.
    const expected: Array<[string, string]> = [];
    for (const d of RESOURCE_TYPES) {
      if (d.systemOwned) continue; // DataplaneInsight is served inside dataplanes+insights
      const collection = d.scope === 'mesh' ? `/meshes/{mesh}/${d.plural}` : `/${d.plural}`;
      const item = d.scope === 'mesh' ? `${collection}/{name}` : d.name === 'Mesh' ? '/meshes/{name}' : `${collection}/{name}`;
      expected.push(['get', d.name === 'Mesh' ? '/meshes' : collection], ['get', item], ['put', item], ['delete', item]);
    }
    for (const path of ['/meshes/{mesh}/dataplanes+insights', '/meshes/{mesh}/dataplanes/{name}/xds', '/meshes/{mesh}/dataplanes/{name}/policies']) expected.push(['get', path]);
    expected.push(['post', '/tokens/user'], ['post', '/tokens/dataplane'], ['get', '/who-am-i'], ['post', '/bootstrap'], ['get', '/config'], ['get', '/'], ['post', '/auth/kubernetes/login'], ['get', '/openapi.json']);
    const missing = expected.filter(([method, path]) => !doc.paths[path]?.[method]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
    assert.deepEqual(missing, []);
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/gui')), 'the GUI’s files are not API operations');

    const list = doc.paths['/meshes/{mesh}/dataplanes']!.get!;
    assert.deepEqual(list.parameters!.map((p) => `${p.in}:${p.name}`).sort(), ['path:mesh', 'query:name', 'query:offset', 'query:size']);
    assert.ok(['400', '401', '403', '404', '503'].every((s) => s in list.responses));
    assert.deepEqual(doc.paths['/meshes/{mesh}/dataplanes/{name}/xds']!.get!.parameters!.map((p) => `${p.in}:${p.name}`).sort(), ['path:mesh', 'path:name'], 'no paging on a single item');
    assert.ok(['201', '409'].every((s) => s in doc.paths['/meshes/{mesh}/dataplanes/{name}']!.put!.responses));

    const yaml = toYaml(doc);
    if (process.env.UPDATE_GOLDEN_FILES === 'true') writeFileSync(COMMITTED, yaml);
    assert.equal(readFileSync(COMMITTED, 'utf8'), yaml, 'docs/openapi.yaml is stale: run the test with UPDATE_GOLDEN_FILES=true and commit it');
  });
});

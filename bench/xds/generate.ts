/**
 * Config generation cost, in process: a mesh of N dataplanes (S services, each dataplane one
 * inbound and K outbounds), then every proxy's resources generated and encoded as the reconciler
 * does on a mesh change. Prints a table and one JSON line.
 *
 *   npm run bench:xds-generate -- [--dataplanes 1000] [--services 100] [--outbounds 5] [--no-default-policies]
 *
 * The mesh has Kuma's default policies (MeshTimeout, MeshRetry, MeshCircuitBreaker), as every new
 * mesh does, unless --no-default-policies.
 */
import { parseArgs } from 'node:util';
import { buildMeshSnapshot } from '../../src/core/mesh-snapshot.js';
import type { StoredResource } from '../../src/core/model.js';
import { ResourceEncoder } from '../../src/xds/cache/snapshot.js';
import { generateProxyResources } from '../../src/xds/generators/index.js';
import { PROTO_LOAD_MS } from '../../src/xds/protos.js';
import { defaultMeshPolicies } from '../../src/policies/defaults.js';

const { values } = parseArgs({ options: { dataplanes: { type: 'string', default: '1000' }, services: { type: 'string', default: '100' }, outbounds: { type: 'string', default: '5' }, 'no-default-policies': { type: 'boolean', default: false } } });
const N = Number(values.dataplanes);
const S = Number(values.services);
const K = Number(values.outbounds);

const now = new Date().toISOString();
const mesh: StoredResource = { type: 'Mesh', mesh: '', name: 'default', spec: {}, version: 1, creationTime: now, modificationTime: now };
const dataplanes: StoredResource[] = Array.from({ length: N }, (_, i) => ({
  type: 'Dataplane',
  mesh: 'default',
  name: `dp-${i}`,
  version: 1,
  creationTime: now,
  modificationTime: now,
  spec: {
    networking: {
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': `svc-${i % S}`, 'kuma.io/protocol': i % S < S / 2 ? 'http' : 'tcp' } }],
      outbound: Array.from({ length: K }, (_, k) => ({ port: 10001 + k, tags: { 'kuma.io/service': `svc-${(i + k + 1) % S}` } })),
    },
  },
}));

const stored = (r: ReturnType<typeof defaultMeshPolicies>[number]): StoredResource => ({ ...r, version: 1, creationTime: now, modificationTime: now });
const defaults = values['no-default-policies'] ? [] : defaultMeshPolicies('default', {}).map(stored);
const targetRef: Record<string, StoredResource[]> = {};
for (const p of defaults) (targetRef[p.type] ??= []).push(p);

/** Proxyless clients of a mesh share one snapshot (see Reconciler), so it is generated once. */
function run(label: string, proxyless: boolean) {
  const t0 = performance.now();
  const snapshot = buildMeshSnapshot(mesh, dataplanes, undefined, { targetRef });
  const t1 = performance.now();
  const encoder = new ResourceEncoder();
  let resources = 0;
  let bytes = 0;
  for (const [name, entry] of proxyless ? [...snapshot.dataplanes].slice(0, 1) : snapshot.dataplanes) {
    const generated = generateProxyResources({ nodeId: `default.${name}`, dataplane: entry, proxyless }, snapshot);
    const snap = encoder.snapshot(generated);
    for (const byName of snap.resources.values()) for (const r of byName.values()) { resources++; bytes += r.any.value.length; }
  }
  const t2 = performance.now();
  return { label, meshSnapshotMs: t1 - t0, generateAndEncodeMs: t2 - t1, resources, bytes };
}

run('warm-up', false);
const envoy = run('Envoy proxies', false);
const proxyless = run('proxyless clients (one shared snapshot)', true);
console.log(`\nxDS config generation: ${N} dataplanes, ${S} services, ${K} outbounds each, ${defaults.length ? "Kuma's default policies" : 'no policies'} (proto load ${PROTO_LOAD_MS.toFixed(0)} ms)`);
console.table([envoy, proxyless].map((r) => ({ case: r.label, 'mesh snapshot ms': r.meshSnapshotMs.toFixed(1), 'generate+encode ms': r.generateAndEncodeMs.toFixed(1), resources: r.resources, bytes: r.bytes })));
console.log(JSON.stringify({ n: N, services: S, outbounds: K, defaultPolicies: defaults.length > 0, protoLoadMs: Math.round(PROTO_LOAD_MS), envoyMs: Math.round(envoy.meshSnapshotMs + envoy.generateAndEncodeMs), proxylessMs: Math.round(proxyless.meshSnapshotMs + proxyless.generateAndEncodeMs) }));

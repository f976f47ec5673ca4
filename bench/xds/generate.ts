/**
 * Config generation cost, in process: a mesh of N dataplanes (S services, each dataplane one
 * inbound and K outbounds), then every proxy's resources generated and encoded as the reconciler
 * does on a mesh change. Prints a table and one JSON line.
 *
 *   npm run bench:xds-generate -- [--dataplanes 1000] [--services 100] [--outbounds 5] [--no-default-policies] [--mtls]
 *
 * --mtls adds the case of turning mesh mTLS on: every proxy regenerated with its identity (PEM
 * texts of a real certificate's and key's sizes; the encoder does not parse them) by an encoder
 * that holds the mesh's config without mTLS, as the reconciler's does at that moment.
 *
 * The mesh has Kuma's default policies (MeshTimeout, MeshRetry, MeshCircuitBreaker), as every new
 * mesh does, unless --no-default-policies.
 */
import { parseArgs } from 'node:util';
import { buildMeshSnapshot } from '../../src/core/mesh-snapshot.js';
import type { StoredResource } from '../../src/core/model.js';
import { ResourceEncoder } from '../../src/xds/cache/snapshot.js';
import { generateProxyResources } from '../../src/xds/generators/index.js';
import type { ProxyIdentityMaterial } from '../../src/xds/generators/types.js';
import { PROTO_LOAD_MS } from '../../src/xds/protos.js';
import { defaultMeshPolicies } from '../../src/policies/defaults.js';

const { values } = parseArgs({ options: { dataplanes: { type: 'string', default: '1000' }, services: { type: 'string', default: '100' }, outbounds: { type: 'string', default: '5' }, 'no-default-policies': { type: 'boolean', default: false }, mtls: { type: 'boolean', default: false } } });
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

const mtlsMesh: StoredResource = { ...mesh, version: 2, spec: { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } } };
const pem = (label: string, bodyLength: number, i: number) => `-----BEGIN ${label}-----\n${String(i).padEnd(bodyLength, 'A')}\n-----END ${label}-----\n`;
const caPem = pem('CERTIFICATE', 1100, 0);
const identityOf = (i: number): ProxyIdentityMaterial => ({ spiffeId: `spiffe://default/svc-${i % S}`, certPem: pem('CERTIFICATE', 1200, i), keyPem: pem('PRIVATE KEY', 1650, i), caPem });

/** Proxyless clients of a mesh share one snapshot (see Reconciler), so it is generated once. */
function run(label: string, proxyless: boolean, mtls?: { encoder: ResourceEncoder }) {
  const t0 = performance.now();
  const snapshot = buildMeshSnapshot(mtls ? mtlsMesh : mesh, dataplanes, undefined, { targetRef });
  const t1 = performance.now();
  const encoder = mtls?.encoder ?? new ResourceEncoder();
  let resources = 0;
  let bytes = 0;
  let i = 0;
  for (const [name, entry] of proxyless ? [...snapshot.dataplanes].slice(0, 1) : snapshot.dataplanes) {
    const identity = mtls ? identityOf(i++) : undefined;
    const generated = generateProxyResources({ nodeId: `default.${name}`, dataplane: entry, proxyless, ...(identity ? { identity } : {}) }, snapshot);
    const snap = encoder.snapshot(generated);
    for (const byName of snap.resources.values()) for (const r of byName.values()) { resources++; bytes += r.any.value.length; }
  }
  const t2 = performance.now();
  return { label, meshSnapshotMs: t1 - t0, generateAndEncodeMs: t2 - t1, resources, bytes };
}

run('warm-up', false);
const envoy = run('Envoy proxies', false);
const proxyless = run('proxyless clients (one shared snapshot)', true);
const mtlsOn = values.mtls ? runMtlsOn() : undefined;

/** Turning mTLS on: an encoder that has encoded the mesh without mTLS, then every proxy with it. */
function runMtlsOn() {
  const encoder = new ResourceEncoder();
  const before = buildMeshSnapshot(mesh, dataplanes, undefined, { targetRef });
  for (const [name, entry] of before.dataplanes) encoder.snapshot(generateProxyResources({ nodeId: `default.${name}`, dataplane: entry, proxyless: false }, before));
  return run('Envoy proxies, mTLS turned on', false, { encoder });
}
console.log(`\nxDS config generation: ${N} dataplanes, ${S} services, ${K} outbounds each, ${defaults.length ? "Kuma's default policies" : 'no policies'} (proto load ${PROTO_LOAD_MS.toFixed(0)} ms)`);
console.table([envoy, proxyless, ...(mtlsOn ? [mtlsOn] : [])].map((r) => ({ case: r.label, 'mesh snapshot ms': r.meshSnapshotMs.toFixed(1), 'generate+encode ms': r.generateAndEncodeMs.toFixed(1), resources: r.resources, bytes: r.bytes })));
console.log(JSON.stringify({ n: N, services: S, outbounds: K, defaultPolicies: defaults.length > 0, protoLoadMs: Math.round(PROTO_LOAD_MS), envoyMs: Math.round(envoy.meshSnapshotMs + envoy.generateAndEncodeMs), proxylessMs: Math.round(proxyless.meshSnapshotMs + proxyless.generateAndEncodeMs), ...(mtlsOn ? { mtlsOnMs: Math.round(mtlsOn.meshSnapshotMs + mtlsOn.generateAndEncodeMs) } : {}) }));

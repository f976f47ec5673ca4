import type { Resource } from '../core/model.js';

/**
 * The policies Kuma 2.x creates with every new Mesh (`pkg/defaults/mesh`), with Kuma's names and
 * values, unless the Mesh's `skipCreatingInitialPolicies` lists their type or `*`.
 */
const sidecar = { kind: 'Mesh', proxyTypes: ['Sidecar'] };
const gateway = { kind: 'Mesh', proxyTypes: ['Gateway'] };
const mesh = { kind: 'Mesh' };
const backOff = { baseInterval: '25ms', maxInterval: '250ms' };

const DEFAULTS: ReadonlyArray<{ prefix: string; type: Resource['type']; spec: Record<string, unknown> }> = [
  {
    prefix: 'mesh-gateways-timeout-all',
    type: 'MeshTimeout',
    spec: {
      targetRef: gateway,
      from: [{ targetRef: mesh, default: { idleTimeout: '5m', http: { streamIdleTimeout: '5s', requestHeadersTimeout: '500ms' } } }],
      to: [{ targetRef: mesh, default: { idleTimeout: '1h', http: { streamIdleTimeout: '5s' } } }],
    },
  },
  {
    prefix: 'mesh-timeout-all',
    type: 'MeshTimeout',
    spec: {
      targetRef: sidecar,
      // Inbound timeouts bigger than the outbound ones, or disabled.
      from: [{ targetRef: mesh, default: { connectionTimeout: '10s', idleTimeout: '2h', http: { requestTimeout: '0s', streamIdleTimeout: '1h', maxStreamDuration: '0s' } } }],
      to: [{ targetRef: mesh, default: { connectionTimeout: '5s', idleTimeout: '1h', http: { requestTimeout: '15s', streamIdleTimeout: '30m' } } }],
    },
  },
  {
    prefix: 'mesh-circuit-breaker-all',
    type: 'MeshCircuitBreaker',
    spec: { targetRef: mesh, to: [{ targetRef: mesh, default: { connectionLimits: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } } }] },
  },
  {
    prefix: 'mesh-retry-all',
    type: 'MeshRetry',
    spec: {
      targetRef: mesh,
      to: [{ targetRef: mesh, default: { tcp: { maxConnectAttempt: 5 }, http: { numRetries: 5, perTryTimeout: '16s', backOff }, grpc: { numRetries: 5, perTryTimeout: '16s', backOff } } }],
    },
  },
];

/** The default policies for a mesh with this spec (none when it skips them all). */
export function defaultMeshPolicies(meshName: string, meshSpec: Record<string, unknown>): Resource[] {
  const skipped = Array.isArray(meshSpec.skipCreatingInitialPolicies) ? (meshSpec.skipCreatingInitialPolicies as unknown[]) : [];
  if (skipped.includes('*')) return [];
  return DEFAULTS.filter((d) => !skipped.includes(d.type)).map((d) => ({ type: d.type, mesh: meshName, name: `${d.prefix}-${meshName}`, spec: { spec: structuredClone(d.spec) } }));
}

import type { PolicyDefinition } from '../policy.js';
import { duration, obj } from '../schema.js';

/**
 * MeshTimeout (Kuma 2.x, `kuma.io/v1alpha1`): its schema and validation, as Kuma's
 * `pkg/plugins/policies/meshtimeout/api/v1alpha1` states them. Timeouts may be 0 ("disabled").
 */
export interface TimeoutConf {
  connectionTimeout?: string;
  idleTimeout?: string;
  http?: {
    requestTimeout?: string;
    streamIdleTimeout?: string;
    maxStreamDuration?: string;
    maxConnectionDuration?: string;
    requestHeadersTimeout?: string;
  };
}

const HTTP = obj({ requestTimeout: duration(), streamIdleTimeout: duration(), maxStreamDuration: duration(), maxConnectionDuration: duration(), requestHeadersTimeout: duration() });

export const MESH_TIMEOUT: PolicyDefinition = {
  name: 'MeshTimeout',
  plural: 'meshtimeouts',
  to: ['Mesh', 'MeshService'],
  from: ['Mesh'],
  rules: true,
  conf: obj({ connectionTimeout: duration(), idleTimeout: duration(), http: HTTP }),
  emptyConf: 'at least one timeout should be configured',
  checkConf(conf, path, causes) {
    const http = conf.http as Record<string, unknown> | undefined;
    if (http && Object.values(http).every((v) => v === undefined)) causes.add(`${path}.http`, 'at least one timeout in this section should be configured');
  },
};

import type { PolicyDefinition } from '../policy.js';
import { bool, decimal, duration, int, list, obj, str } from '../schema.js';

/** MeshHealthCheck (Kuma 2.x): active health checks of outbound clusters, per Kuma's `meshhealthcheck/api/v1alpha1`. */
export interface HeaderValue {
  name: string;
  value: string;
}
export interface HealthCheckConf {
  interval?: string;
  timeout?: string;
  unhealthyThreshold?: number;
  healthyThreshold?: number;
  initialJitter?: string;
  intervalJitter?: string;
  intervalJitterPercent?: number;
  healthyPanicThreshold?: number | string;
  failTrafficOnPanic?: boolean;
  eventLogPath?: string;
  alwaysLogHealthCheckFailures?: boolean;
  noTrafficInterval?: string;
  reuseConnection?: boolean;
  tcp?: { disabled?: boolean; send?: string; receive?: string[] };
  http?: { disabled?: boolean; path?: string; requestHeadersToAdd?: { add?: HeaderValue[]; set?: HeaderValue[] }; expectedStatuses?: number[] };
  grpc?: { disabled?: boolean; serviceName?: string; authority?: string };
}

const header = obj({ name: str(), value: str(false) }, { required: ['name', 'value'] });
export const headerModifier = obj({ add: list(header), set: list(header) });

export const MESH_HEALTH_CHECK: PolicyDefinition = {
  name: 'MeshHealthCheck',
  plural: 'meshhealthchecks',
  to: ['Mesh', 'MeshService'],
  conf: obj({
    interval: duration(true),
    timeout: duration(true),
    unhealthyThreshold: int(1),
    healthyThreshold: int(1),
    initialJitter: duration(true),
    intervalJitter: duration(true),
    intervalJitterPercent: int(0, 100),
    healthyPanicThreshold: decimal(0, 100),
    failTrafficOnPanic: bool,
    eventLogPath: str(),
    alwaysLogHealthCheckFailures: bool,
    noTrafficInterval: duration(true),
    reuseConnection: bool,
    tcp: obj({ disabled: bool, send: str(false), receive: list(str(false)) }),
    http: obj({ disabled: bool, path: str(), requestHeadersToAdd: headerModifier, expectedStatuses: list(int(100, 599)) }),
    grpc: obj({ disabled: bool, serviceName: str(false), authority: str(false) }),
  }),
  checkConf(conf, path, causes) {
    if (conf.http === undefined && conf.tcp === undefined && conf.grpc === undefined) causes.add(path, 'must have at least one defined: http, tcp, grpc');
  },
};

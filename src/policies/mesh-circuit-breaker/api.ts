import type { PolicyDefinition } from '../policy.js';
import { bool, decimal, duration, int, obj } from '../schema.js';

/** MeshCircuitBreaker (Kuma 2.x): connection limits and outlier detection, per Kuma's `meshcircuitbreaker/api/v1alpha1`. */
export interface CircuitBreakerConf {
  connectionLimits?: { maxConnections?: number; maxConnectionPools?: number; maxPendingRequests?: number; maxRetries?: number; maxRequests?: number };
  outlierDetection?: {
    disabled?: boolean;
    interval?: string;
    baseEjectionTime?: string;
    maxEjectionPercent?: number;
    splitExternalAndLocalErrors?: boolean;
    healthyPanicThreshold?: number | string;
    detectors?: {
      totalFailures?: { consecutive?: number };
      gatewayFailures?: { consecutive?: number };
      localOriginFailures?: { consecutive?: number };
      successRate?: { minimumHosts?: number; requestVolume?: number; standardDeviationFactor?: number | string };
      failurePercentage?: { minimumHosts?: number; requestVolume?: number; threshold?: number };
    };
  };
}

const consecutive = obj({ consecutive: int(1) });
const detectors = obj(
  {
    totalFailures: consecutive,
    gatewayFailures: consecutive,
    localOriginFailures: consecutive,
    successRate: obj({ minimumHosts: int(0), requestVolume: int(0), standardDeviationFactor: decimal(0) }),
    failurePercentage: obj({ minimumHosts: int(0), requestVolume: int(0), threshold: int(0, 100) }),
  },
  { atLeastOne: true },
);

export const MESH_CIRCUIT_BREAKER: PolicyDefinition = {
  name: 'MeshCircuitBreaker',
  plural: 'meshcircuitbreakers',
  to: ['Mesh', 'MeshService'],
  from: ['Mesh'],
  rules: true,
  conf: obj({
    connectionLimits: obj({ maxConnections: int(1), maxConnectionPools: int(1), maxPendingRequests: int(1), maxRetries: int(1), maxRequests: int(1) }, { atLeastOne: true }),
    outlierDetection: obj({ disabled: bool, interval: duration(true), baseEjectionTime: duration(true), maxEjectionPercent: int(0, 100), splitExternalAndLocalErrors: bool, detectors, healthyPanicThreshold: decimal(0, 100) }),
  }),
  emptyConf: "at least one of: 'connectionLimits' or 'outlierDetection' should be configured",
};

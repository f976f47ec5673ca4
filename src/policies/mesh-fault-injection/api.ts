import type { PolicyDefinition } from '../policy.js';
import { decimal, duration, int, list, obj, str } from '../schema.js';

/** MeshFaultInjection (Kuma 2.x): HTTP aborts, delays and response rate limits, per Kuma's `meshfaultinjection/api/v1alpha1`. */
export interface FaultConf {
  http?: Array<{
    abort?: { httpStatus: number; percentage: number | string };
    delay?: { value: string; percentage: number | string };
    responseBandwidth?: { limit: string; percentage: number | string };
  }>;
}

const percentage = decimal(0, 100);
/** Kuma's bandwidth: an amount and a unit, e.g. "10kbps", "1Mbps", "2gbps". */
export const BANDWIDTH = /^([0-9]+)\s*(kbps|Mbps|mbps|Gbps|gbps)$/;

export const MESH_FAULT_INJECTION: PolicyDefinition = {
  name: 'MeshFaultInjection',
  plural: 'meshfaultinjections',
  to: ['Mesh', 'MeshService'],
  // Kuma also takes callers by service or tags here, matched by a header the caller sets itself;
  // Skiff injects faults for every caller of an inbound only (see docs/policies.md).
  from: ['Mesh'],
  rules: true,
  conf: obj({
    http: list(
      obj(
        {
          abort: obj({ httpStatus: int(100, 599), percentage }, { required: ['httpStatus', 'percentage'] }),
          delay: obj({ value: duration(true), percentage }, { required: ['value', 'percentage'] }),
          responseBandwidth: obj({ limit: str(), percentage }, { required: ['limit', 'percentage'] }),
        },
        { atLeastOne: true },
      ),
    ),
  }),
  emptyConf: 'must have at least one defined: http',
  checkConf(conf, path, causes) {
    ((conf.http as FaultConf['http']) ?? []).forEach((fault, i) => {
      if (fault.responseBandwidth && !BANDWIDTH.test(fault.responseBandwidth.limit)) causes.add(`${path}.http[${i}].responseBandwidth.limit`, 'has to be in kbps/Mbps/Gbps units, e.g. "100kbps"');
    });
  },
};

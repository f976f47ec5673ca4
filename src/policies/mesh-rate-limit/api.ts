import { parseDuration } from '../../core/duration.js';
import type { Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { bool, duration, int, obj } from '../schema.js';
import { headerModifier, type HeaderValue } from '../mesh-health-check/api.js';

/** MeshRateLimit (Kuma 2.x): local rate limits of inbound HTTP requests and TCP connections. */
export interface Rate {
  num: number;
  interval: string;
}
export interface RateLimitConf {
  local?: {
    http?: { disabled?: boolean; requestRate?: Rate; onRateLimit?: { status?: number; headers?: { add?: HeaderValue[]; set?: HeaderValue[] } } };
    tcp?: { disabled?: boolean; connectionRate?: Rate };
  };
}

const rate = obj({ num: int(1), interval: duration() }, { required: ['num', 'interval'] });

export const MESH_RATE_LIMIT: PolicyDefinition = {
  name: 'MeshRateLimit',
  plural: 'meshratelimits',
  // Kuma's `to` is for MeshGateway top levels only, which Skiff does not serve.
  from: ['Mesh'],
  rules: true,
  conf: obj(
    {
      local: obj(
        {
          http: obj({ disabled: bool, requestRate: rate, onRateLimit: obj({ status: int(100, 599), headers: headerModifier }) }, { atLeastOne: true }),
          tcp: obj({ disabled: bool, connectionRate: rate }, { atLeastOne: true }),
        },
        { atLeastOne: true },
      ),
    },
    { required: ['local'] },
  ),
  checkConf(conf, path, causes) {
    const local = conf.local as Obj;
    for (const [section, field] of [['http', 'requestRate'], ['tcp', 'connectionRate']] as const) {
      const r = (local[section] as Obj | undefined)?.[field] as Rate | undefined;
      if (r && (parseDuration(r.interval) ?? 0) <= 50) causes.add(`${path}.local.${section}.${field}.interval`, 'must be greater than: 50ms');
    }
  },
};

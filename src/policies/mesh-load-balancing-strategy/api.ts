import type { Causes, Obj } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { any, bool, decimal, duration, int, list, obj, oneOf, str } from '../schema.js';

/** MeshLoadBalancingStrategy (Kuma 2.x): the load balancer, hash policies and locality of outbound clusters. */
export interface HashPolicy {
  type: 'Header' | 'Cookie' | 'Connection' | 'SourceIP' | 'QueryParameter' | 'FilterState';
  terminal?: boolean;
  header?: { name: string };
  cookie?: { name: string; ttl?: string; path?: string };
  connection?: { sourceIP?: boolean };
  queryParameter?: { name: string };
  filterState?: { key: string };
}
export interface LoadBalancingConf {
  localityAwareness?: { disabled?: boolean; localZone?: { affinityTags?: Array<{ key: string; weight?: number }> }; crossZone?: unknown };
  loadBalancer?: {
    type: 'RoundRobin' | 'LeastRequest' | 'RingHash' | 'Random' | 'Maglev';
    leastRequest?: { choiceCount?: number; activeRequestBias?: number | string };
    ringHash?: { hashFunction?: 'XXHash' | 'MurmurHash2'; minRingSize?: number; maxRingSize?: number; hashPolicies?: HashPolicy[] };
    maglev?: { tableSize?: number; hashPolicies?: HashPolicy[] };
  };
  hashPolicies?: HashPolicy[];
}

const hashPolicy = obj(
  {
    type: oneOf('Header', 'Cookie', 'Connection', 'SourceIP', 'QueryParameter', 'FilterState'),
    terminal: bool,
    header: obj({ name: str() }, { required: ['name'] }),
    cookie: obj({ name: str(), ttl: duration(), path: str() }, { required: ['name'] }),
    connection: obj({ sourceIP: bool }),
    queryParameter: obj({ name: str() }, { required: ['name'] }),
    filterState: obj({ key: str() }, { required: ['key'] }),
  },
  { required: ['type'] },
);
const hashPolicies = list(hashPolicy);
/** The field of a hash policy its type needs (Connection and SourceIP need none). */
const HASH_FIELD: Record<string, string | undefined> = { Header: 'header', Cookie: 'cookie', QueryParameter: 'queryParameter', FilterState: 'filterState' };

function checkHashPolicies(policies: HashPolicy[] | undefined, path: string, causes: Causes): void {
  policies?.forEach((p, i) => {
    const field = HASH_FIELD[p.type];
    if (field && (p as unknown as Obj)[field] === undefined) causes.add(`${path}[${i}].${field}`, `must be defined with type ${p.type}`);
  });
}

export const MESH_LOAD_BALANCING_STRATEGY: PolicyDefinition = {
  name: 'MeshLoadBalancingStrategy',
  plural: 'meshloadbalancingstrategies',
  to: ['Mesh', 'MeshService'],
  conf: obj({
    localityAwareness: obj({ disabled: bool, localZone: obj({ affinityTags: list(obj({ key: str(), weight: int(1) }, { required: ['key'] })) }), crossZone: any }),
    loadBalancer: obj(
      {
        type: oneOf('RoundRobin', 'LeastRequest', 'RingHash', 'Random', 'Maglev'),
        roundRobin: obj({}),
        leastRequest: obj({ choiceCount: int(2), activeRequestBias: decimal(0) }),
        ringHash: obj({ hashFunction: oneOf('XXHash', 'MurmurHash2'), minRingSize: int(1, 8_388_608), maxRingSize: int(1, 8_388_608), hashPolicies }),
        random: obj({}),
        maglev: obj({ tableSize: int(1, 5_000_011), hashPolicies }),
      },
      { required: ['type'] },
    ),
    hashPolicies,
  }),
  emptyConf: "at least one of 'localityAwareness', 'loadBalancer', 'hashPolicies' must be defined",
  checkConf(conf, path, causes) {
    const c = conf as LoadBalancingConf;
    const lb = c.loadBalancer;
    if (lb?.ringHash?.minRingSize && lb.ringHash.maxRingSize && lb.ringHash.minRingSize > lb.ringHash.maxRingSize) causes.add(`${path}.loadBalancer.ringHash.minRingSize`, 'must be less than or equal to maxRingSize');
    checkHashPolicies(c.hashPolicies, `${path}.hashPolicies`, causes);
    checkHashPolicies(lb?.ringHash?.hashPolicies, `${path}.loadBalancer.ringHash.hashPolicies`, causes);
    checkHashPolicies(lb?.maglev?.hashPolicies, `${path}.loadBalancer.maglev.hashPolicies`, causes);
    const tags = c.localityAwareness?.localZone?.affinityTags ?? [];
    if (tags.some((t) => t.weight !== undefined) && !tags.every((t) => t.weight !== undefined)) causes.add(`${path}.localityAwareness.localZone.affinityTags`, 'all or none affinity tags should have weight');
  },
};

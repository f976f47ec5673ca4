/**
 * The control planes sharing one store: who is alive and which one is the leader. The leader does
 * the work that must happen once (docs/architecture.md, "Several instances"); the others never do.
 * With SQLite or memory there is one instance, always the leader.
 */

/** One live control plane, as `GET /control-planes` lists it. */
export interface InstanceRecord {
  id: string;
  /** Where its xDS server is reached (`general.advertisedHostname` and port). */
  address: string;
  version: string;
  startTime: string;
  /** Time of its last heartbeat, by the database's clock. */
  heartbeatTime: string;
  leader: boolean;
  /** Proxies it served at its last heartbeat. */
  proxies: number;
}

/** What an instance says about itself in its heartbeat. */
export interface InstanceSelf {
  id: string;
  address: string;
  version: string;
  startTime: Date;
  /** Proxies connected to it now. */
  proxies(): number;
}

export type RolloutProxyState = 'acknowledged' | 'rejected' | 'pending' | 'offline';

/** One instance's part of a rollout (src/xds/rollouts.ts): the proxies it serves that the write concerned. */
export interface RolloutPart {
  id: string;
  instance: string;
  resource: { type: string; mesh: string; name: string };
  operation: 'create' | 'update' | 'delete';
  startTime: string;
  /** When this instance's part ended, null while it has a proxy pending. */
  endTime: string | null;
  dataplanes: Array<{ mesh: string; name: string; state: RolloutProxyState; error?: string }>;
}

/** Where the instances sharing a store keep their parts of rollouts for each other. */
export interface RolloutPartStore {
  /** Saves this instance's changed parts and drops the ones it forgot. */
  save(changed: readonly RolloutPart[], forgotten: readonly string[]): Promise<void>;
  /** The other instances' parts of these rollouts. */
  others(ids: readonly string[]): Promise<RolloutPart[]>;
}

export interface Cluster {
  readonly instanceId: string;
  /** Absent with one instance: it has nobody to share rollouts with. */
  readonly rolloutParts?: RolloutPartStore;
  isLeader(): boolean;
  /** Calls `listener` on every change of this instance's leadership. */
  onLeadership(listener: (leader: boolean) => void): () => void;
  /** The live instances, this one included, leader first. */
  instances(): Promise<InstanceRecord[]>;
  /** Ids of the live instances (cached briefly: read on every insight shown). */
  liveInstanceIds(): Promise<Set<string>>;
  /** Writes a heartbeat now (what it says about itself changed: its servers are listening). */
  announce(): Promise<void>;
  close(): Promise<void>;
}

/** One control plane on its own store: it is the whole cluster and always the leader. */
export class SingleInstance implements Cluster {
  readonly instanceId: string;

  constructor(private readonly self: InstanceSelf) {
    this.instanceId = self.id;
  }

  isLeader(): boolean {
    return true;
  }

  onLeadership(): () => void {
    return () => {};
  }

  async instances(): Promise<InstanceRecord[]> {
    const now = new Date().toISOString();
    const { id, address, version, startTime } = this.self;
    return [{ id, address, version, startTime: startTime.toISOString(), heartbeatTime: now, leader: true, proxies: this.self.proxies() }];
  }

  async liveInstanceIds(): Promise<Set<string>> {
    return new Set([this.instanceId]);
  }

  async announce(): Promise<void> {}

  async close(): Promise<void> {}
}

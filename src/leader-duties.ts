import type { Logger } from 'pino';
import type { DataplaneTokens } from './auth/dataplane-tokens.js';
import type { UserTokens } from './auth/user-tokens.js';
import type { Config } from './config/schema.js';
import { meshMtlsBackend } from './core/resources/mesh.js';
import type { StoredResource } from './core/model.js';
import type { MeshCaManager } from './sds/mesh-ca.js';
import type { ControlPlaneCa } from './auth/control-plane-ca.js';
import type { Cluster } from './store/cluster.js';
import { ensureDefaultMesh } from './store/open.js';
import type { ResourceStore } from './store/store.js';

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

export interface LeaderDutiesDeps {
  config: Config;
  store: ResourceStore;
  cluster: Cluster;
  logger: Logger;
  userTokens: UserTokens;
  dataplaneTokens: DataplaneTokens;
  cas: MeshCaManager;
  /** The CA of the instances' xDS certificates, when they share one (PostgreSQL). */
  controlPlaneCa?: ControlPlaneCa;
}

/**
 * The work that must happen once however many control planes share the store, done by the leader
 * only: the default Mesh, the user-token signing key and the admin token (first start), the
 * control-plane CA (several instances), each mesh's first dataplane-token signing key and its builtin CA. On election it all runs over every mesh
 * (each step is idempotent: an earlier leader may have done part of it); while leader, a Mesh
 * written by anyone gets its key and CA. Failures (a store outage) are retried with backoff.
 * Followers wait for what they need (`waitForLeaderWork`) and never create it.
 */
export class LeaderDuties {
  private readonly unsubscribeStore: () => void;
  private readonly unsubscribeLeadership: () => void;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: LeaderDutiesDeps) {
    this.unsubscribeLeadership = deps.cluster.onLeadership((leader) => {
      if (leader) {
        this.announce();
        void this.runAll();
      } else {
        deps.logger.warn({ instance: deps.cluster.instanceId }, 'this control plane is no longer the leader');
      }
    });
    this.unsubscribeStore = deps.store.subscribe((event) => {
      if (!deps.cluster.isLeader()) return;
      if (event.action === 'resync') void this.runAll();
      else if (event.type === 'Mesh' && event.action !== 'delete') void this.enqueue(() => this.meshByName(event.name));
    });
  }

  /** Runs every duty now when this instance leads (at start, so a lone instance is ready when it listens). */
  async start(): Promise<void> {
    if (!this.deps.cluster.isLeader()) return;
    this.announce();
    await this.runAll();
  }

  private announce(): void {
    // Said only where there can be another leader: a lone SQLite or memory instance always leads.
    if (this.deps.config.store.type === 'postgres') this.deps.logger.info({ instance: this.deps.cluster.instanceId }, 'this control plane is now the leader');
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.running = this.running.then(async () => {
      if (this.closed || !this.deps.cluster.isLeader()) return;
      try {
        await work();
        this.retryMs = RETRY_MIN_MS;
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, `leader work failed; retrying in ${this.retryMs} ms`);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.runAll(), this.retryMs);
        this.retryTimer.unref();
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    });
    return this.running;
  }

  private runAll(): Promise<void> {
    return this.enqueue(async () => {
      const { config, store, logger, userTokens } = this.deps;
      await ensureDefaultMesh(store, config, logger);
      const boot = await userTokens.bootstrap();
      if (boot.keyCreated) logger.info('created user token signing key 1 (global secret user-token-signing-key-1)');
      if (boot.adminTokenCreated) logger.info('stored an admin user token in the global secret admin-user-token');
      if (await this.deps.controlPlaneCa?.ensure()) logger.info('created the control-plane CA (global secret control-plane-ca) that issues every instance its xDS certificate');
      for (const mesh of (await store.list('Mesh')).items) await this.mesh(mesh);
    });
  }

  private async meshByName(name: string): Promise<void> {
    const mesh = await this.deps.store.get({ type: 'Mesh', mesh: '', name });
    if (mesh) await this.mesh(mesh);
  }

  private async mesh(mesh: StoredResource): Promise<void> {
    if (await this.deps.dataplaneTokens.ensureSigningKey(mesh.name)) this.deps.logger.info({ mesh: mesh.name }, 'created the dataplane token signing key of the mesh');
    const backend = meshMtlsBackend(mesh.spec);
    if (backend?.type === 'builtin') await this.deps.cas.ensureBuiltin(mesh.name, backend);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.unsubscribeStore();
    this.unsubscribeLeadership();
  }
}

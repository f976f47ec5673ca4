import type { FastifyInstance } from 'fastify';
import { redactConfig } from '../../config/redact.js';
import type { Config } from '../../config/schema.js';
import { PUBLIC, permission } from '../auth-hooks.js';
import type { Cluster } from '../../store/cluster.js';

export interface SystemRoutesOptions {
  config: Config;
  version: string;
  instanceId: string;
  hostname: string;
  cluster?: Cluster;
}

/** `GET /` (who is answering), `GET /config` (the effective configuration, secrets masked), `GET /control-planes`. */
export async function systemRoutes(app: FastifyInstance, options: SystemRoutesOptions): Promise<void> {
  const redacted = redactConfig(options.config);
  app.get('/', { config: { access: PUBLIC } }, async () => ({
    product: 'Skiff',
    tagline: 'Skiff',
    version: options.version,
    basedOnKuma: '2.14.3',
    hostname: options.hostname,
    instanceId: options.instanceId,
    environment: options.config.environment,
    storeType: options.config.store.type,
  }));
  app.get('/config', { config: { access: permission('viewConfigDump') } }, async () => redacted);
  // Skiff's own (Kuma lists no control-plane instances in Universal mode): the live instances on
  // this store, leader first, in the list envelope the other collections use.
  const cluster = options.cluster;
  if (cluster) {
    app.get('/control-planes', async () => {
      const items = await cluster.instances();
      return { total: items.length, items, next: null };
    });
  }
}

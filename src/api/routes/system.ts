import type { FastifyInstance } from 'fastify';
import { redactConfig } from '../../config/redact.js';
import type { Config } from '../../config/schema.js';
import { PUBLIC, permission } from '../auth-hooks.js';

export interface SystemRoutesOptions {
  config: Config;
  version: string;
  instanceId: string;
  hostname: string;
}

/** `GET /` (who is answering) and `GET /config` (the effective configuration, secrets masked). */
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
}

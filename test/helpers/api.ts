import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { TestContext } from 'node:test';
import { buildApiApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/observability/metrics.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { CheckedStore } from '../../src/store/decorators.js';
import type { ResourceStore } from '../../src/store/store.js';
import { UserTokens } from '../../src/auth/user-tokens.js';
import { DataplaneTokens } from '../../src/auth/dataplane-tokens.js';

/** An API app on a fresh memory store with the `default` mesh, closed when the test ends. */
export async function buildApi(t: TestContext, env: Record<string, string> = {}, logger: Logger = pino({ level: 'silent' })): Promise<{ app: FastifyInstance; store: ResourceStore; userTokens: UserTokens }> {
  const { config } = loadConfig({ env: { KUMA_STORE_TYPE: 'memory', ...env } });
  const store = new CheckedStore(new MemoryStore());
  await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
  const userTokens = new UserTokens(store, config.apiServer.authn.tokens);
  await userTokens.bootstrap();
  const app = await buildApiApp({
    config,
    store,
    userTokens,
    dataplaneTokens: new DataplaneTokens(store),
    logger,
    metrics: new Metrics(),
    version: 'test',
    instanceId: 'test-instance',
    hostname: 'test-host',
  });
  t.after(() => app.close());
  return { app, store, userTokens };
}

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApiApp } from './api/app.js';
import { buildDiagnosticsApp } from './api/diagnostics.js';
import type { Config } from './config/schema.js';
import { Metrics } from './observability/metrics.js';
import { ensureDefaultMesh, openStore } from './store/open.js';
import type { ResourceStore } from './store/store.js';
import { VERSION } from './version.js';
import { UserTokens } from './auth/user-tokens.js';
import { startXdsServer, type XdsServer } from './xds/xds-server.js';

/** A running control plane: the bound ports and a graceful stop. */
export interface ControlPlane {
  store: ResourceStore;
  apiPort: number;
  diagnosticsPort: number;
  xds: XdsServer;
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. */
  close(): Promise<void>;
}

async function listen(app: FastifyInstance, host: string, port: number, what: string): Promise<number> {
  // fastify logs the bound address (the real port when 0 was asked for) with this text.
  await app.listen({ host, port, listenTextResolver: (address) => `${what} listening at ${address}` });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/**
 * Starts the store, the REST API (apiServer.http), diagnostics and the xDS server. SDS, the token
 * server and the GUI join here as they are built.
 */
export async function startControlPlane(config: Config, logger: Logger): Promise<ControlPlane> {
  const metrics = new Metrics({ processMetrics: true });
  const store = await openStore(config, logger.child({ component: 'store' }), metrics.storeLatency);
  const apps: FastifyInstance[] = [];
  let xds: XdsServer | undefined;
  try {
    await ensureDefaultMesh(store, config, logger);
    const userTokens = new UserTokens(store, config.apiServer.authn.tokens);
    const boot = await userTokens.bootstrap();
    if (boot.keyCreated) logger.info('created user token signing key 1 (global secret user-token-signing-key-1)');
    if (boot.adminTokenCreated) logger.info('stored an admin user token in the global secret admin-user-token');
    const instanceId = randomUUID();
    xds = await startXdsServer(config, store, logger, instanceId);
    const inspector = xds;
    const api = await buildApiApp({ config, store, logger, metrics, version: VERSION, instanceId, hostname: hostname(), inspector, userTokens });
    apps.push(api);
    const diagnostics = await buildDiagnosticsApp({ store, metrics, logger });
    apps.push(diagnostics);
    const apiPort = await listen(api, config.apiServer.http.interface, config.apiServer.http.port, 'API server (HTTP)');
    const diagnosticsPort = await listen(diagnostics, '0.0.0.0', config.diagnostics.serverPort, 'diagnostics server');
    const started = xds;
    return {
      store,
      apiPort,
      diagnosticsPort,
      xds: started,
      async close() {
        await Promise.allSettled([started.close(), ...apps.map((app) => app.close())]);
        await store.close();
      },
    };
  } catch (err) {
    await Promise.allSettled([xds?.close(), ...apps.map((app) => app.close())]);
    await store.close();
    throw err;
  }
}

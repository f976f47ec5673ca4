import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { ResourceStore } from '../store/store.js';

/** Port 5680: liveness, readiness (the store answers) and Prometheus metrics. */
export async function buildDiagnosticsApp(deps: { store: ResourceStore; metrics: Metrics; logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger.child({ component: 'diagnostics' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthy', async () => 'ok\n');
  app.get('/ready', async (_request, reply) => {
    try {
      await deps.store.ping();
      return 'ok\n';
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message }, 'readiness check: store not reachable');
      return reply.code(503).send('store not reachable\n');
    }
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}

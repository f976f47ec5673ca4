import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DataplaneTokens } from '../auth/dataplane-tokens.js';
import { isLocalCaller } from '../auth/localhost.js';
import type { ResourceStore } from '../store/store.js';
import { envelope, HttpError } from './envelope.js';
import { dataplaneTokenFromBody } from './routes/tokens.js';

/**
 * The legacy dataplane-token server of Kuma 0.3 (`dataplaneTokenServer.local.port`, 5679):
 * `POST /tokens {"name", "mesh"}` answers a dataplane token. It has no authentication of its own,
 * so it listens on 127.0.0.1 only and also refuses any request that is not from a real local caller.
 */
export async function buildTokenServer(deps: { store: ResourceStore; dataplaneTokens: DataplaneTokens; logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger.child({ component: 'token-server' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 });
  app.setErrorHandler((error: FastifyError | HttpError, _request, reply) => {
    const code = error.statusCode;
    const status = error instanceof HttpError ? error.statusCode : typeof code === 'number' && code < 500 ? code : 500;
    if (status >= 500) deps.logger.error({ err: error }, 'token server request failed');
    const body = error instanceof HttpError ? envelope(status, error.title, error.details, error.causes) : envelope(status, status >= 500 ? 'Internal Server Error' : 'Bad Request', status >= 500 ? 'see the control plane log' : error.message);
    void reply.code(status).send(body);
  });
  app.addHook('onRequest', async (request) => {
    if (!isLocalCaller({ remoteAddress: request.socket.remoteAddress, headers: request.headers })) {
      throw new HttpError(403, 'Access Denied', 'the dataplane token server answers local callers only');
    }
  });
  app.post<{ Body: unknown }>('/tokens', async (request, reply) => reply.type('text/plain').send(await dataplaneTokenFromBody(request.body, deps.store, deps.dataplaneTokens)));
  return app;
}

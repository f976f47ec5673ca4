import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DataplaneTokens } from '../auth/dataplane-tokens.js';
import type { UserTokens } from '../auth/user-tokens.js';
import type { Config } from '../config/schema.js';
import { isStoreUnavailable } from '../core/errors.js';
import type { ResourceStore } from '../store/store.js';
import { installAuth, permission } from './auth-hooks.js';
import { envelope, HttpError } from './envelope.js';
import { parseJsonUnderContentTypes } from './json-body.js';
import { sendStoreUnavailable, type StoreOutageLog } from './store-outage.js';
import { dataplaneTokenFromBody } from './routes/tokens.js';

/**
 * The legacy dataplane-token server of Kuma 0.3 (`dataplaneTokenServer.local.port`, 5679):
 * `POST /tokens {"name", "mesh"}` answers a dataplane token. It listens on 127.0.0.1 only and
 * follows the API's rules exactly: a real local caller is admin only while
 * `apiServer.authn.localhostIsAdmin` is on; otherwise the caller needs a user token with the
 * `generateDpToken` permission, as for `POST /tokens/dataplane` (a dataplane token is the key to
 * that dataplane's certificate and private key over SDS).
 */
export async function buildTokenServer(deps: { config: Config; store: ResourceStore; dataplaneTokens: DataplaneTokens; userTokens: UserTokens; logger: Logger; storeOutages: StoreOutageLog }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger.child({ component: 'token-server' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 });
  app.setErrorHandler((error: FastifyError | HttpError, _request, reply) => {
    if (isStoreUnavailable(error)) return sendStoreUnavailable(reply, deps.storeOutages, error);
    const code = error.statusCode;
    const status = error instanceof HttpError ? error.statusCode : typeof code === 'number' && code < 500 ? code : 500;
    if (status >= 500) deps.logger.error({ err: error }, 'token server request failed');
    const body = error instanceof HttpError ? envelope(status, error.title, error.details, error.causes) : envelope(status, status >= 500 ? 'Internal Server Error' : 'Bad Request', status >= 500 ? 'see the control plane log' : error.message);
    void reply.code(status).send(body);
  });
  // Kuma's documented call is `curl -XPOST :5679/tokens --data '{...}'`: curl's form content type
  // with a JSON body. Only JSON is read here, whatever the declared type; a browser cannot use
  // that to mint a token, since a cross-origin caller is never admin (see auth/localhost.ts).
  app.removeAllContentTypeParsers();
  parseJsonUnderContentTypes(app, '*');
  installAuth(app, deps.config, deps.userTokens);
  app.post<{ Body: unknown }>('/tokens', { config: { access: permission('generateDpToken') } }, async (request, reply) =>
    reply.type('text/plain').send(await dataplaneTokenFromBody(request.body, deps.store, deps.dataplaneTokens)),
  );
  return app;
}

import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../config/schema.js';
import { isAlreadyExists, isConflict, isForbidden, isInvalid, isNotFound, isStoreUnavailable, isUnauthenticated } from '../core/errors.js';
import { sendStoreUnavailable, StoreOutageLog } from './store-outage.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import type { Metrics } from '../observability/metrics.js';
import type { ResourceStore } from '../store/store.js';
import { envelope, HttpError } from './envelope.js';
import { resourceRoutes, type ResourceCheck, type XdsInspector, type ConfigPreviewer, type RolloutRegistry } from './routes/resources.js';
import { tokenRoutes } from './routes/tokens.js';
import { bootstrapRoutes, type BootstrapProvider } from './routes/bootstrap.js';
import { installAuth } from './auth-hooks.js';
import type { UserTokens } from '../auth/user-tokens.js';
import type { AdminClientCerts } from '../auth/client-certs.js';
import type { DataplaneTokens } from '../auth/dataplane-tokens.js';
import { systemRoutes } from './routes/system.js';
import { kubernetesAuthRoutes } from './routes/kubernetes-auth.js';
import { listMethodBridge } from './list-method.js';
import { guiRoutes } from './gui.js';
import type { KubernetesAuth } from '../auth/kubernetes/kubernetes-auth.js';
import type { Cluster } from '../store/cluster.js';

export interface ApiDeps {
  config: Config;
  store: ResourceStore;
  logger: Logger;
  metrics: Metrics;
  version: string;
  instanceId: string;
  hostname: string;
  /** User tokens: validation of every request's bearer token, and issuing. */
  userTokens: UserTokens;
  /** Dataplane token issuing (`POST /tokens/dataplane`). */
  dataplaneTokens: DataplaneTokens;
  /** Checks a write needs beyond the resource's own validation. */
  resourceCheck?: ResourceCheck;
  /** Envoy bootstraps for `POST /bootstrap`; implemented by the xDS layer. */
  bootstrap?: BootstrapProvider;
  /** Admin client certificates (`apiServer.authn.type: adminClientCerts`). */
  clientCerts?: AdminClientCerts;
  /** The xDS server's view of each proxy, for `GET /meshes/{m}/dataplanes/{n}/xds`. */
  inspector?: XdsInspector;
  /** Dry-run impact and shadow previews (the xDS module's ConfigPreview). */
  preview?: ConfigPreviewer;
  /** Rollout tracking (the xDS module's RolloutTracker). */
  rollouts?: RolloutRegistry;
  /** Vault's Kubernetes auth method (`/auth/kubernetes/…`). */
  kubernetesAuth?: KubernetesAuth;
  /** The control planes on this store (`GET /control-planes`, and whose streams count as online). */
  cluster?: Cluster;
  /** Counts requests failed by a store outage; shared by the control plane's servers so the log says it once. */
  storeOutages?: StoreOutageLog;
}

/** Largest request body accepted; larger ones get 413 before they are read into memory. */
export const BODY_LIMIT = 1024 * 1024;

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Access Denied',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
};

/** Maps any error to its status and Kuma's envelope; 5xx details stay in the log, never in the answer. */
function toEnvelope(error: unknown, logger: Logger) {
  if (error instanceof HttpError) return envelope(error.statusCode, error.title, error.details, error.causes);
  if (isInvalid(error)) return envelope(400, 'Could not process a resource', error.message, error.causes);
  if (isNotFound(error)) return envelope(404, 'Not Found', error.message);
  if (isUnauthenticated(error)) return envelope(401, 'Unauthenticated', error.message);
  if (isForbidden(error)) return envelope(403, 'Access Denied', error.message);
  if (isConflict(error) || isAlreadyExists(error)) return envelope(409, 'Conflict', error.message);
  const fe = error as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return envelope(fe.statusCode, STATUS_TITLES[fe.statusCode] ?? 'Bad Request', fe.message ?? 'bad request');
  }
  logger.error({ err: error }, 'request failed');
  return envelope(500, 'Internal Server Error', 'the control plane could not handle the request; see its log');
}

/** Where the GUI goes: under `/gui/` beside the API (5681/5682), or at `/` with the API under `/api` (5683). */
export interface AppLayout {
  gui?: 'prefixed' | 'root';
}

/** The REST API as a fastify instance, not yet listening (tests use `inject`, `server.ts` listens). */
export async function buildApiApp(deps: ApiDeps, tls?: { cert: string | Buffer; key: string | Buffer }, layout: AppLayout = {}): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // HTTPS (port 5682): client certificates are asked for but verified by us, per request, so a
    // caller without one still reaches token authentication.
    ...(tls ? { https: { cert: tls.cert, key: tls.key, requestCert: deps.config.apiServer.authn.type === 'adminClientCerts', rejectUnauthorized: false } } : {}),
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // Per-request lines are logged once, at debug, in onResponse below: never bodies, so no secrets.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Kuma accepts `/meshes/` as `/meshes`. Names may be 253 characters; longer path segments still
    // reach our validation (and its 400) up to this limit, and a 414 envelope past it.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Errors fastify raises before routing (malformed URL, over-long segment) get the envelope too.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const status = error.statusCode ?? 400;
      void reply.code(status).send(envelope(status, STATUS_TITLES[status] ?? 'Bad Request', error.message));
    },
    // Requests Node's parser refuses; Vault's LIST method among them (see list-method.ts).
    clientErrorHandler: listMethodBridge(() => app) as (error: Error, socket: Socket) => void,
  }) as unknown as FastifyInstance;

  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseYaml(body as string, { maxAliasCount: 100 }));
    } catch (err) {
      const invalid = new HttpError(400, 'Bad Request', `body is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
      done(invalid, undefined);
    }
  });

  const outages = deps.storeOutages ?? new StoreOutageLog(deps.logger);
  app.setErrorHandler((error, _request, reply) => {
    if (isStoreUnavailable(error)) return sendStoreUnavailable(reply, outages, error);
    const body = toEnvelope(error, deps.logger);
    void reply.code(body.status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(envelope(404, 'Not Found', `no such endpoint: ${request.method} ${request.url.split('?')[0]}`));
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) };
    deps.metrics.httpRequests.inc(labels);
    deps.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
  });

  installAuth(app, deps.config, deps.userTokens, deps.clientCerts);
  await registerOpenApi(app, deps.version);
  await app.register(
    async (api) => {
      openApiRoute(api, app);
      await api.register(tokenRoutes, { tokens: deps.userTokens, maxValidFor: deps.config.apiServer.authn.tokens.maxValidFor, store: deps.store, dataplaneTokens: deps.dataplaneTokens });
      if (deps.bootstrap) await api.register(bootstrapRoutes, { provider: deps.bootstrap });
      await api.register(systemRoutes, { config: deps.config, version: deps.version, instanceId: deps.instanceId, hostname: deps.hostname, cluster: deps.cluster });
      if (deps.kubernetesAuth) await api.register(kubernetesAuthRoutes, { auth: deps.kubernetesAuth });
      await api.register(resourceRoutes, { store: deps.store, readOnly: deps.config.apiServer.readOnly, inspector: deps.inspector, preview: deps.preview, rollouts: deps.rollouts, check: deps.resourceCheck, liveInstances: deps.cluster ? () => deps.cluster!.liveInstanceIds() : undefined });
    },
    { prefix: layout.gui === 'root' ? '/api' : '' },
  );
  if (layout.gui) await app.register(guiRoutes, { prefix: layout.gui === 'root' ? '/' : '/gui' });
  return app;
}

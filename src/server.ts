import { ConfigPreview } from './xds/preview.js';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApiApp } from './api/app.js';
import { buildDiagnosticsApp } from './api/diagnostics.js';
import type { Config } from './config/schema.js';
import { Metrics } from './observability/metrics.js';
import { openStore, sqlitePath } from './store/open.js';
import { SingleInstance, type Cluster, type InstanceSelf } from './store/cluster.js';
import { PostgresCluster } from './store/postgres/cluster.js';
import { postgresOptions } from './store/open.js';
import { parseDuration } from './core/duration.js';
import { LeaderDuties } from './leader-duties.js';
import { ControlPlaneCa } from './auth/control-plane-ca.js';
import { sharedSecretFiles } from './store/private-files.js';
import type { ResourceStore } from './store/store.js';
import { VERSION } from './version.js';
import { UserTokens } from './auth/user-tokens.js';
import { AdminClientCerts } from './auth/client-certs.js';
import { DataplaneTokens } from './auth/dataplane-tokens.js';
import { KubernetesAuth } from './auth/kubernetes/kubernetes-auth.js';
import { buildTokenServer } from './api/token-server.js';
import { StoreOutageLog } from './api/store-outage.js';
import { controlPlaneHostnames, serverTlsMaterial } from './auth/server-cert.js';
import { startXdsServer, type XdsServer } from './xds/xds-server.js';
import { RolloutExchange } from './xds/rollout-exchange.js';
import { IdentityIssuer } from './sds/identities.js';
import { WorkerSigner } from './sds/svid-signer.js';
import { MeshCaManager } from './sds/mesh-ca.js';
import { meshMtlsBackend } from './core/resources/mesh.js';
import type { ResourceCheck } from './api/routes/resources.js';
import { parseRawResource } from './xds/proto-json.js';
import { encodeResource } from './xds/protos.js';
import { pgvViolations } from './xds/validate-rules.js';

/** A running control plane: the bound ports and a graceful stop. */
export interface ControlPlane {
  store: ResourceStore;
  apiPort: number;
  /** The HTTPS API port (5682 by default). */
  apiHttpsPort: number;
  /** The GUI server (5683): the GUI at `/`, the API under `/api`. */
  guiPort: number;
  /** The legacy dataplane token server (5679, localhost), when enabled. */
  tokenServerPort: number | undefined;
  diagnosticsPort: number;
  xds: XdsServer;
  /** The control planes on this store, and whether this one leads. */
  cluster: Cluster;
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
 * A ProxyTemplate's raw resources must decode as Envoy messages and keep the validation rules of
 * Envoy's protos (which Envoy enforces by NACKing): each one that does not is named, with the
 * rule it breaks, before it can reach a proxy.
 */
function rawResourceProblems(spec: Record<string, unknown>): Array<{ field: string; message: string }> {
  const resources = ((spec.conf as { resources?: Array<{ name?: string; resource?: string }> } | undefined)?.resources ?? []);
  return resources.flatMap((r, i) => {
    const field = `conf.resources[${i}].resource`;
    const parsed = parseRawResource(String(r.resource ?? ''));
    if (!parsed.ok) return [{ field, message: `resource "${r.name ?? ''}" is not a valid Envoy resource: ${parsed.error}` }];
    const violations = pgvViolations(parsed.typeUrl, encodeResource(parsed.typeUrl, parsed.value));
    return violations.map((violation) => ({ field, message: `resource "${r.name ?? ''}" breaks a validation rule of Envoy's protos (Envoy would reject it): ${violation}` }));
  });
}

/** Checks beyond a resource's own shape: a Mesh's provided CA is found, is a CA and its key matches; a ProxyTemplate's raw resources decode. */
function resourceChecks(cas: MeshCaManager): ResourceCheck {
  return async (resource) => {
    if (resource.type === 'ProxyTemplate') return rawResourceProblems(resource.spec);
    if (resource.type !== 'Mesh') return [];
    const backend = meshMtlsBackend(resource.spec);
    if (backend?.type !== 'provided') return [];
    try {
      await cas.checkProvided(resource.name, backend.conf);
      return [];
    } catch (err) {
      return [{ field: 'mtls', message: `provided CA of backend "${backend.name}": ${(err as Error).message}` }];
    }
  };
}

/** Files created by an earlier version (or by hand) may still be readable by others: say so once at start. */
function warnAboutSharedSecretFiles(config: Config, logger: Logger): void {
  const certs = resolve(config.general.workDir, 'certs');
  const keys = existsSync(certs) ? readdirSync(certs).filter((f) => f.endsWith('.key')).map((f) => join(certs, f)) : [];
  const db = config.store.type === 'sqlite' ? sqlitePath(config) : undefined;
  const paths = [...(db ? [db, `${db}-wal`, `${db}-shm`] : []), ...(existsSync(certs) ? [certs] : []), ...keys];
  for (const { path, mode } of sharedSecretFiles(paths)) {
    logger.warn({ path, mode }, `${path} holds secrets but is readable by other users (mode ${mode}): run chmod go-rwx on it`);
  }
}

/** The cluster this instance belongs to: on PostgreSQL every instance on the database, else itself. */
async function startCluster(config: Config, self: InstanceSelf, logger: Logger): Promise<Cluster> {
  if (config.store.type !== 'postgres') return new SingleInstance(self);
  const timing = {
    heartbeatMs: parseDuration(config.store.postgres.heartbeatInterval) ?? 5000,
    electionMs: parseDuration(config.store.postgres.leaderElectionInterval) ?? 1000,
  };
  const cluster = new PostgresCluster(postgresOptions(config), self, timing, (err) =>
    logger.warn({ err: err.message }, 'lost the leader-election session with PostgreSQL; reconnecting'),
  );
  await cluster.start();
  return cluster;
}

/**
 * Starts the store, the REST API (apiServer.http), diagnostics and the xDS server. SDS, the token
 * server and the GUI join here as they are built.
 */
export async function startControlPlane(config: Config, logger: Logger): Promise<ControlPlane> {
  warnAboutSharedSecretFiles(config, logger);
  const metrics = new Metrics({ processMetrics: true });
  const instanceId = randomUUID();
  const startTime = new Date();
  const opened = await openStore(config, logger.child({ component: 'store' }), metrics.storeLatency, instanceId);
  const store = opened.store;
  const apps: FastifyInstance[] = [];
  let xds: XdsServer | undefined;
  let cluster: Cluster | undefined;
  let duties: LeaderDuties | undefined;
  try {
    const self = {
      id: instanceId,
      get address() {
        return `${config.general.advertisedHostname}:${xds?.port ?? config.xdsServer.grpcPort}`;
      },
      version: VERSION,
      startTime,
      proxies: () => xds?.reconciler.connectedCount() ?? 0,
    };
    cluster = await startCluster(config, self, logger);
    const isLeader = () => cluster!.isLeader();
    metrics.watchCluster(cluster, opened.postgres);
    const userTokens = new UserTokens(store, config.apiServer.authn.tokens);
    const dataplaneTokens = new DataplaneTokens(store, isLeader);
    const kubernetesAuth = new KubernetesAuth(store, dataplaneTokens);
    const cas = new MeshCaManager(store, isLeader);
    // On PostgreSQL the instances' xDS certificates come from one CA in the store (unless files are configured).
    const sharedXdsCa = config.store.type === 'postgres' && config.xdsServer.tlsEnabled && !config.xdsServer.tlsCertFile && !config.xdsServer.tlsKeyFile ? new ControlPlaneCa(store) : undefined;
    duties = new LeaderDuties({ config, store, cluster, logger, userTokens, dataplaneTokens, cas, controlPlaneCa: sharedXdsCa });
    await duties.start();
    xds = await startXdsServer(config, store, logger, instanceId, { dataplaneTokens, kubernetesAuth }, metrics, isLeader, await sharedXdsCa?.load());
    const liveCluster = cluster;
    await liveCluster.announce(); // its xDS address, now that the port is bound
    xds.bootstrap.useInstanceAddresses(async () =>
      (await liveCluster.instances())
        .filter((i) => i.id !== instanceId)
        .map((i) => ({ host: i.address.slice(0, i.address.lastIndexOf(':')), port: Number(i.address.slice(i.address.lastIndexOf(':') + 1)) }))
        // An instance still starting has not bound its port yet.
        .filter((a) => a.port > 0),
    );
    // Mesh mTLS: certificates from the SDS module, renewed by republishing the proxy.
    const reconciler = xds.reconciler;
    const identities = new IdentityIssuer(cas, logger.child({ component: 'sds' }), (nodeId) => reconciler.renew(nodeId), (nodeId, notAfter) => xds!.insights.recordCertificate(nodeId, notAfter), new WorkerSigner(undefined, (err) => logger.warn({ err }, 'a certificate signing worker stopped; what it had not signed is signed on the event loop')));
    reconciler.useIdentities(identities);
    const inspector = xds;
    const rollouts = new RolloutExchange(xds.rollouts, cluster, (err) => logger.warn({ err: (err as Error).message }, 'saving rollout progress for the other instances failed; retrying'));
    const preview = new ConfigPreview(store, (nodeId) => reconciler.connectedAs(nodeId));
    const clientCerts = config.apiServer.authn.type === 'adminClientCerts' ? new AdminClientCerts(config.apiServer.auth.clientCertsDir) : undefined;
    const storeOutages = new StoreOutageLog(logger.child({ component: 'api' }));
    const apiDeps = { config, store, logger, metrics, storeOutages, version: VERSION, instanceId, hostname: hostname(), inspector, preview, rollouts, userTokens, clientCerts, dataplaneTokens, kubernetesAuth, bootstrap: xds.bootstrap, resourceCheck: resourceChecks(cas), cluster };
    const api = await buildApiApp(apiDeps, undefined, { gui: 'prefixed' });
    apps.push(api);
    const tls = await serverTlsMaterial({
      certFile: config.apiServer.https.tlsCertFile,
      keyFile: config.apiServer.https.tlsKeyFile,
      configPath: 'apiServer.https',
      workDir: config.general.workDir,
      name: 'api-server',
      hostnames: controlPlaneHostnames(config.general.advertisedHostname),
      onGenerated: (certFile) => logger.info({ certFile }, 'generated the HTTPS API server certificate'),
    });
    const apiHttps = await buildApiApp(apiDeps, tls, { gui: 'prefixed' });
    const gui = await buildApiApp(apiDeps, undefined, { gui: 'root' });
    apps.push(gui);
    apps.push(apiHttps);
    const diagnostics = await buildDiagnosticsApp({ store, metrics, logger });
    apps.push(diagnostics);
    const apiPort = await listen(api, config.apiServer.http.interface, config.apiServer.http.port, 'API server (HTTP)');
    const apiHttpsPort = await listen(apiHttps, config.apiServer.https.interface, config.apiServer.https.port, 'API server (HTTPS)');
    const guiPort = await listen(gui, config.apiServer.http.interface, config.guiServer.port, 'GUI server');
    const diagnosticsPort = await listen(diagnostics, '0.0.0.0', config.diagnostics.serverPort, 'diagnostics server');
    let tokenServerPort: number | undefined;
    if (config.dataplaneTokenServer.enabled) {
      const tokenServer = await buildTokenServer({ config, store, dataplaneTokens, userTokens, logger, storeOutages });
      apps.push(tokenServer);
      tokenServerPort = await listen(tokenServer, '127.0.0.1', config.dataplaneTokenServer.local.port, 'dataplane token server');
    }
    const started = xds;
    const startedCluster = cluster;
    const startedDuties = duties;
    return {
      store,
      apiPort,
      apiHttpsPort,
      guiPort,
      diagnosticsPort,
      tokenServerPort,
      xds: started,
      cluster: startedCluster,
      async close() {
        identities.close();
        rollouts.close();
        startedDuties.close();
        await Promise.allSettled([started.close(), ...apps.map((app) => app.close())]);
        await startedCluster.close();
        await store.close();
        opened.release();
      },
    };
  } catch (err) {
    duties?.close();
    await Promise.allSettled([xds?.close(), ...apps.map((app) => app.close())]);
    await cluster?.close();
    await store.close();
    opened.release();
    throw err;
  }
}

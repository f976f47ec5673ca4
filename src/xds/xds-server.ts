import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { controlPlaneHostnames, serverTlsMaterial, type CertificatePair } from '../auth/server-cert.js';
import { issueServerCertificate } from '../auth/control-plane-ca.js';
import type { Config } from '../config/schema.js';
import type { ResourceStore } from '../store/store.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { parseDuration } from '../core/duration.js';
import { InsightRecorder } from './insights.js';
import type { StreamHooks } from './server/sotw-stream.js';
import type { Metrics } from '../observability/metrics.js';
import { RolloutTracker } from './rollouts.js';
import { decodeResource, grpcDefinitions, PROTO_LOAD_MS } from './protos.js';
import { SHORT_NAMES } from './resources.js';
import { Reconciler } from './reconciler.js';
import { adsService } from './server/ads-service.js';
import { credentialCheckFor, proxyAuthenticatorFor } from './authn.js';
import { shutdownGrpcServer } from './server/grpc-shutdown.js';
import { XDS_SERVER_OPTIONS } from './server/grpc-options.js';
import { withSplicingSerializers } from './wire.js';
import { KubernetesAuth } from '../auth/kubernetes/kubernetes-auth.js';
import { DataplaneTokens } from '../auth/dataplane-tokens.js';
import { BootstrapService } from './bootstrap-service.js';

export interface XdsServer {
  port: number;
  /** The SecretDiscoveryService port (5677 by default), always TLS. */
  sdsPort: number;
  cache: SnapshotCache;
  reconciler: Reconciler;
  insights: InsightRecorder;
  /** Envoy bootstraps for sidecars (`POST /bootstrap`). */
  bootstrap: BootstrapService;
  /** Where each write has arrived (`x-skiff-rollout`, `GET /rollouts`). */
  rollouts: RolloutTracker;
  /** What is served to `{mesh}.{name}` right now (decoded from the bytes sent), for the inspect endpoint. */
  inspect(mesh: string, name: string): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function defaultAuth(store: ResourceStore) {
  const dataplaneTokens = new DataplaneTokens(store);
  return { dataplaneTokens, kubernetesAuth: new KubernetesAuth(store, dataplaneTokens) };
}

/** TLS credentials from the configured files, or from a certificate generated at first start; and the PEM proxies must trust. */
async function credentialsFor(config: Config, logger: Logger, sharedCa?: CertificatePair): Promise<{ credentials: grpc.ServerCredentials; caPem?: string }> {
  const { tlsEnabled, tlsCertFile, tlsKeyFile } = config.xdsServer;
  if (!tlsEnabled) return { credentials: grpc.ServerCredentials.createInsecure() };
  if (sharedCa && !tlsCertFile && !tlsKeyFile) {
    // Several instances: each issues itself a certificate from the CA they share, and proxies
    // trust that CA, so whichever instance a proxy reaches is one it trusts.
    const own = await issueServerCertificate(sharedCa, controlPlaneHostnames(config.general.advertisedHostname));
    const chain = Buffer.from(own.certPem + sharedCa.certPem);
    return { credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: chain, private_key: Buffer.from(own.keyPem) }], false), caPem: sharedCa.certPem };
  }
  const tls = await serverTlsMaterial({
    certFile: tlsCertFile,
    keyFile: tlsKeyFile,
    configPath: 'xdsServer',
    workDir: config.general.workDir,
    name: 'xds-server',
    hostnames: controlPlaneHostnames(config.general.advertisedHostname),
    onGenerated: (certFile) => logger.info({ certFile }, 'generated the xDS server certificate'),
  });
  return { credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false), caPem: tls.cert.toString('utf8') };
}

/** The inspect endpoint shows what a proxy is served, except private keys (SDS identity secrets). */
function redactPrivateKeys(resource: Record<string, unknown>): Record<string, unknown> {
  const tls = resource.tls_certificate as Record<string, unknown> | undefined;
  if (tls?.private_key) return { ...resource, tls_certificate: { ...tls, private_key: { inline_bytes: '*****' } } };
  return resource;
}

/** The xDS gRPC server on `xdsServer.grpcPort`: ADS backed by a snapshot cache kept current by the reconciler. */
export async function startXdsServer(
  config: Config,
  store: ResourceStore,
  logger: Logger,
  instanceId: string,
  auth: { dataplaneTokens: DataplaneTokens; kubernetesAuth: KubernetesAuth } = defaultAuth(store),
  metrics?: Metrics,
  /** Whether this control plane is the leader (only it cleans up the insights of deleted Dataplanes). */
  isLeader: () => boolean = () => true,
  /** The control-plane CA shared by the instances on one store (PostgreSQL), when no certificate files are configured. */
  sharedCa?: CertificatePair,
): Promise<XdsServer> {
  const xdsLogger = logger.child({ component: 'xds' });
  const credentialCheck = credentialCheckFor(config, auth.dataplaneTokens, auth.kubernetesAuth);
  const authenticator = proxyAuthenticatorFor(store, credentialCheck);
  const { credentials, caPem } = await credentialsFor(config, xdsLogger, sharedCa);
  const cache = new SnapshotCache();
  const reconciler = new Reconciler(store, cache, xdsLogger, undefined, (ms) => metrics?.xdsGeneration.observe(ms));
  const insights = new InsightRecorder(store, instanceId, parseDuration(config.xdsServer.dataplaneStatusFlushInterval) ?? 1000, xdsLogger, () => reconciler.busy(), isLeader);
  const server = new grpc.Server(XDS_SERVER_OPTIONS);
  const definition = withSplicingSerializers(
    (grpcDefinitions[ADS] as grpc.ServiceDefinition | undefined) ??
      (() => {
        throw new Error(`${ADS} missing from the loaded protos`);
      })(),
    { sotw: ['StreamAggregatedResources'], delta: ['DeltaAggregatedResources'] },
  );
  const rollouts = new RolloutTracker(instanceId, { onEnded: (seconds) => metrics?.rolloutDuration.observe(seconds), onNack: (typeUrl) => metrics?.xdsNacks.inc({ type_url: typeUrl }) }, (mesh) => reconciler.servesMesh(mesh));
  reconciler.useRollouts(rollouts);
  // A write's rollout starts with its change event, here and on every other instance. The
  // reconciler's subscription came first but only schedules its refresh, which then claims it.
  const stopStartingRollouts = store.subscribe((event) => {
    if (event.action !== 'resync' && event.rollout) rollouts.start(event.rollout, { type: event.type, mesh: event.mesh, name: event.name }, event.action);
  });
  // DataplaneInsights and rollouts record every stream event; the delivery figure goes to the metrics.
  const hooks: StreamHooks = {
    onStreamOpen: (s) => insights.onStreamOpen(s),
    onStreamClose: (s) => {
      insights.onStreamClose(s);
      rollouts.onStreamClose(s);
    },
    onResponse: (s, type, version) => {
      insights.onResponse(s, type, version);
      rollouts.onResponse(s, type);
    },
    onAck: (s, type, version) => {
      insights.onAck(s, type, version);
      rollouts.onAck(s, type);
    },
    onNack: (s, type, version, message) => {
      insights.onNack(s, type, version, message);
      rollouts.onNack(s, type, message);
    },
    onDelivered: (_s, ms) => metrics?.xdsDelivery.observe(ms),
  };
  const ads = adsService({ cache, registry: reconciler, authenticator, logger: xdsLogger, hooks, secureTransport: config.xdsServer.tlsEnabled });
  server.addService(definition, ads.implementation);
  // A revoked token or a deleted key ends the streams it admitted within moments.
  const stopRevalidating = store.subscribe((event) => {
    // After a resync a revocation may be among what was missed: every open stream is checked again.
    const mesh = event.action === 'resync' ? undefined : event.type === 'Secret' && event.name.startsWith('dataplane-token-') ? event.mesh : null;
    if (mesh === null) return;
    for (const service of [ads, sdsAds]) void service.revalidate(mesh).catch((err: unknown) => xdsLogger.error({ err }, 're-checking dataplane tokens failed'));
  });
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync(`0.0.0.0:${config.xdsServer.grpcPort}`, credentials, (err, bound) => (err ? fail(err) : done(bound))),
  );
  // SDS on its own port as in Kuma's port list: the same streams, secrets only, always over TLS.
  const sdsServer = new grpc.Server(XDS_SERVER_OPTIONS);
  const sdsDefinition = withSplicingSerializers(grpcDefinitions['envoy.service.secret.v3.SecretDiscoveryService'] as grpc.ServiceDefinition, { sotw: ['StreamSecrets'], delta: ['DeltaSecrets'] });
  const sdsAds = adsService({ cache, registry: reconciler, authenticator, logger: xdsLogger.child({ server: 'sds' }), hooks, secureTransport: true });
  sdsServer.addService(sdsDefinition, sdsAds.secretsImplementation);
  const sdsTls = await serverTlsMaterial({
    certFile: config.sdsServer.tlsCertFile,
    keyFile: config.sdsServer.tlsKeyFile,
    configPath: 'sdsServer',
    workDir: config.general.workDir,
    name: 'sds-server',
    hostnames: controlPlaneHostnames(config.general.advertisedHostname),
    onGenerated: (certFile) => xdsLogger.info({ certFile }, 'generated the SDS server certificate'),
  });
  const sdsPort = await new Promise<number>((done, fail) =>
    sdsServer.bindAsync(`0.0.0.0:${config.sdsServer.grpcPort}`, grpc.ServerCredentials.createSsl(null, [{ cert_chain: sdsTls.cert, private_key: sdsTls.key }], false), (err, bound) =>
      err ? fail(err) : done(bound),
    ),
  );
  xdsLogger.info({ port: sdsPort }, `SDS server listening at grpcs://0.0.0.0:${sdsPort}`);
  xdsLogger.info({ port, tls: config.xdsServer.tlsEnabled, protoLoadMs: Math.round(PROTO_LOAD_MS) }, `xDS server listening at ${config.xdsServer.tlsEnabled ? 'grpcs' : 'grpc'}://0.0.0.0:${port}`);
  return {
    port,
    sdsPort,
    cache,
    reconciler,
    insights,
    bootstrap: new BootstrapService(config, store, credentialCheck, port, caPem),
    rollouts,
    inspect(mesh, name) {
      const nodeId = `${mesh}.${name}`;
      const snapshot = cache.get(nodeId);
      if (!snapshot) return undefined;
      const resources: Record<string, Record<string, unknown>> = {};
      for (const [typeUrl, byName] of snapshot.resources) {
        const group: Record<string, unknown> = (resources[SHORT_NAMES[typeUrl]] = {});
        for (const [resourceName, r] of byName) group[resourceName] = { version: r.version, resource: redactPrivateKeys(decodeResource(typeUrl, r.any.value)) };
      }
      return { nodeId, resources, streams: insights.streamsOf(nodeId) };
    },
    close: async () => {
      stopRevalidating();
      stopStartingRollouts();
      reconciler.close();
      ads.closeAll();
      sdsAds.closeAll();
      await Promise.all([server, sdsServer].map((s) => shutdownGrpcServer(s)));
      await insights.close();
    },
  };
}

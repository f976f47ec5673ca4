import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { decodeResource, grpcDefinitions } from '../xds/protos.js';
import { TYPE_URLS } from '../xds/resources.js';

/** Where the agent finds the control plane: what an Envoy bootstrap from `POST /bootstrap` says. */
export interface XdsTarget {
  /** `host:port` of each control plane, tried in turn. */
  addresses: string[];
  /** The control plane's CA (PEM) when xDS uses TLS. */
  caPem?: string;
  /** The dataplane token, sent as `authorization` on the stream. */
  token?: string;
  nodeId: string;
  mesh: string;
}

/** The files a gRPC `file_watcher` certificate provider reads. */
export const CERT_FILES = { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' } as const;

/** Reads the ADS addresses, CA and token out of an Envoy bootstrap (the object `POST /bootstrap` returns as YAML). */
export function xdsTargetOf(bootstrap: any, mesh: string): XdsTarget {
  const cluster = (bootstrap?.static_resources?.clusters ?? []).find((c: any) => c.name === 'ads_cluster');
  const endpoints: any[] = cluster?.load_assignment?.endpoints?.[0]?.lb_endpoints ?? [];
  const addresses = endpoints.map((e) => {
    const a = e.endpoint.address.socket_address;
    return String(a.address).includes(':') ? `[${a.address}]:${a.port_value}` : `${a.address}:${a.port_value}`;
  });
  if (addresses.length === 0) throw new Error('the bootstrap names no control plane (no ads_cluster endpoint)');
  const caPem = cluster?.transport_socket?.typed_config?.common_tls_context?.validation_context?.trusted_ca?.inline_string as string | undefined;
  const metadata: any[] = bootstrap?.dynamic_resources?.ads_config?.grpc_services?.[0]?.initial_metadata ?? [];
  const token = metadata.find((m) => m.key === 'authorization')?.value as string | undefined;
  return { addresses, caPem, token, nodeId: String(bootstrap?.node?.id ?? ''), mesh };
}

/** Writes `content` so a reader never sees half of it (a temporary file renamed over the old one). */
function writeAtomically(path: string, content: string, mode: number): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, content, { mode });
  renameSync(temporary, path);
}

const ADS = grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;
const Client = grpc.makeClientConstructor(ADS, 'AggregatedDiscoveryService') as unknown as new (address: string, creds: grpc.ChannelCredentials) => grpc.Client & {
  StreamAggregatedResources(md: grpc.Metadata): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, any>>;
};

/**
 * Keeps a proxyless gRPC application's mesh certificate files current: subscribes over SDS to the
 * dataplane's identity and the mesh CA (the secrets Skiff serves a dataplane's node id) and writes
 * `cert.pem`, `key.pem` (owner-only) and `ca.pem` into `dir` whenever they change (issue,
 * renewal, CA rotation), where the application's `file_watcher` certificate provider reads them.
 * Reconnects with backoff (1 s to 30 s), moving to the next control plane each time.
 * `onWritten` is called after each write. Returns a stop function.
 */
export function keepCertificateFiles(target: XdsTarget, dir: string, logger: Logger, onWritten: () => void = () => {}): () => void {
  const names = [`identity_cert:secret:${target.mesh}`, `mesh_ca:secret:${target.mesh}`];
  let stopped = false;
  let attempt = 0;
  let backoffMs = 1000;
  let client: InstanceType<typeof Client> | undefined;
  let call: grpc.ClientDuplexStream<Record<string, unknown>, Record<string, any>> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const connect = () => {
    if (stopped) return;
    const address = target.addresses[attempt++ % target.addresses.length]!;
    const creds = target.caPem ? grpc.credentials.createSsl(Buffer.from(target.caPem)) : grpc.credentials.createInsecure();
    client = new Client(address, creds);
    const metadata = new grpc.Metadata();
    if (target.token) metadata.set('authorization', target.token);
    const stream = (call = client.StreamAggregatedResources(metadata));
    let first = true;
    const request = (ack?: { version: string; nonce: string }) => {
      if (stopped) return;
      stream.write({
        type_url: TYPE_URLS.secret,
        resource_names: names,
        version_info: ack?.version ?? '',
        response_nonce: ack?.nonce ?? '',
        // A proxyless node, as the application it serves: both streams share one node id, hence
        // one snapshot (the proxyless one, which carries the identity secrets).
        ...(first ? { node: { id: target.nodeId, user_agent_name: 'skiff-dp', metadata: { fields: { 'dataplane.proxyType': { string_value: 'grpc' } } } } } : {}),
      });
      first = false;
    };
    stream.on('data', (response: Record<string, any>) => {
      const secrets = new Map<string, Record<string, any>>();
      for (const r of response.resources ?? []) {
        const decoded = decodeResource(r.type_url, r.value);
        secrets.set(String(decoded.name), decoded);
      }
      const identity = secrets.get(names[0]!)?.tls_certificate;
      const ca = secrets.get(names[1]!)?.validation_context?.trusted_ca;
      const text = (b: unknown) => Buffer.from(String(b ?? ''), 'base64').toString('utf8');
      if (identity && ca) {
        // The key first and the certificate last: a watcher that sees the new certificate finds its key.
        writeAtomically(join(dir, CERT_FILES.key), text(identity.private_key?.inline_bytes), 0o600);
        writeAtomically(join(dir, CERT_FILES.ca), text(ca.inline_bytes), 0o644);
        writeAtomically(join(dir, CERT_FILES.cert), text(identity.certificate_chain?.inline_bytes), 0o644);
        logger.info({ dir, version: response.version_info }, 'wrote the mesh certificate files');
        backoffMs = 1000;
        onWritten();
      } else {
        logger.warn({ received: [...secrets.keys()] }, 'the control plane sent no identity yet (is mTLS on for the mesh?)');
      }
      request({ version: String(response.version_info ?? ''), nonce: String(response.nonce ?? '') });
    });
    stream.on('error', () => {});
    stream.on('status', (status: grpc.StatusObject) => {
      client?.close();
      if (stopped) return;
      logger.warn({ address, code: status.code, details: status.details, retryInMs: backoffMs }, 'SDS stream ended; reconnecting');
      timer = setTimeout(connect, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30_000);
    });
    request();
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    call?.cancel(); // an open call would keep the process alive
    client?.close();
  };
}

import * as grpc from '@grpc/grpc-js';
import { decodeResource, grpcDefinitions } from '../../src/xds/protos.js';

/** A DiscoveryResponse as the test client sees it, resources decoded. */
export interface Response {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: Array<{ type_url: string; value: Buffer }>;
  names: string[];
  decoded: Array<Record<string, unknown>>;
}

export interface DeltaResponse {
  system_version_info: string;
  type_url: string;
  nonce: string;
  resources: Array<{ name: string; version: string; resource: { type_url: string; value: Buffer } }>;
  removed_resources: string[];
}

type AnyMsg = Record<string, unknown>;

const LOADED = grpc.loadPackageDefinition(grpcDefinitions) as unknown as {
  envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } }; secret: { v3: { SecretDiscoveryService: grpc.ServiceClientConstructor } } } };
};
const ADS = LOADED.envoy.service.discovery.v3.AggregatedDiscoveryService;
const SDS = LOADED.envoy.service.secret.v3.SecretDiscoveryService;

/** Collects messages of a stream so a test can await the next one (with a timeout) or assert silence. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ deliver: (item: T) => void; fail: (err: Error) => void }> = [];
  status: grpc.StatusObject | undefined;
  private statusWaiters: Array<(s: grpc.StatusObject) => void> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.deliver(item);
    else this.items.push(item);
  }

  end(status: grpc.StatusObject): void {
    this.status = status;
    for (const w of this.statusWaiters.splice(0)) w(status);
    // Nothing more will come: a waiter fails now rather than hold the process until its timeout.
    for (const w of this.waiters.splice(0)) w.fail(this.endedError());
  }

  private endedError(): Error {
    return new Error(`the stream ended (${this.status?.code} ${this.status?.details ?? ''})`);
  }

  next(timeoutMs = 3000): Promise<T> {
    const ready = this.items.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.status) return Promise.reject(this.endedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        deliver: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
        fail: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves if nothing arrives for `ms`; rejects with what arrived otherwise. */
  async silence(ms = 300): Promise<void> {
    const item = await this.next(ms).catch(() => undefined);
    if (item !== undefined) throw new Error(`expected no message, got ${JSON.stringify(item, (_k, v) => (v?.type === 'Buffer' ? '<bytes>' : v)).slice(0, 300)}`);
  }

  closed(timeoutMs = 3000): Promise<grpc.StatusObject> {
    if (this.status) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('stream did not end')), timeoutMs);
      this.statusWaiters.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  get pending(): number {
    return this.items.length;
  }
}

export interface ClientOptions {
  credentials?: grpc.ChannelCredentials;
  /** gRPC call metadata (e.g. authorization). */
  metadata?: Record<string, string>;
  /** `node.metadata` entries (strings). */
  nodeMetadata?: Record<string, string>;
  userAgent?: string;
  channelOptions?: grpc.ChannelOptions;
  /** Speak the SecretDiscoveryService (StreamSecrets) instead of ADS. */
  sds?: boolean;
}

function nodeOf(nodeId: string, options: ClientOptions): AnyMsg {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options.nodeMetadata ?? {})) fields[k] = { string_value: v };
  return { id: nodeId, cluster: 'test', metadata: { fields }, user_agent_name: options.userAgent ?? 'envoy' };
}

function metadataOf(options: ClientOptions): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
  return md;
}

/**
 * A client that speaks ADS like Envoy does (state of the world): the test decides what to request,
 * ACK and NACK, and inspects what the control plane sends and when.
 */
export class SotwClient {
  readonly inbox = new Inbox<Response>();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<AnyMsg, AnyMsg>;
  private sentNode = false;

  constructor(
    address: string,
    private readonly nodeId: string,
    private readonly options: ClientOptions = {},
  ) {
    this.client = new (options.sds ? SDS : ADS)(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
    const methods = this.client as unknown as Record<'StreamAggregatedResources' | 'StreamSecrets', (md: grpc.Metadata) => grpc.ClientDuplexStream<AnyMsg, AnyMsg>>;
    this.call = options.sds ? methods.StreamSecrets.call(this.client, metadataOf(options)) : methods.StreamAggregatedResources.call(this.client, metadataOf(options));
    this.call.on('data', (message: AnyMsg) => {
      const resources = (message.resources ?? []) as Array<{ type_url: string; value: Buffer }>;
      const decoded = resources.map((r) => decodeResource(r.type_url, r.value));
      const names = decoded.map((d) => String(d.name ?? d.cluster_name));
      this.inbox.push({ version_info: String(message.version_info ?? ''), type_url: String(message.type_url), nonce: String(message.nonce ?? ''), resources, names, decoded });
    });
    this.call.on('status', (status: grpc.StatusObject) => this.inbox.end(status));
    this.call.on('error', () => {});
  }

  /** Sends a request; the first one carries the node, as Envoy's does. */
  request(typeUrl: string, names: string[] = [], ack?: { version: string; nonce: string }, errorDetail?: string): void {
    const message: AnyMsg = { type_url: typeUrl, resource_names: names, version_info: ack?.version ?? '', response_nonce: ack?.nonce ?? '' };
    if (!this.sentNode) {
      message.node = nodeOf(this.nodeId, this.options);
      this.sentNode = true;
    }
    if (errorDetail) message.error_detail = { code: 3, message: errorDetail };
    this.call.write(message);
  }

  /** Raw write, for malformed requests. */
  write(message: AnyMsg): void {
    this.call.write(message);
  }

  ack(response: Response, names: string[] = []): void {
    this.request(response.type_url, names, { version: response.version_info, nonce: response.nonce });
  }

  /** A NACK names the last version it accepted and the nonce of the response it rejects. */
  nack(response: Response, lastAccepted: string, names: string[] = [], message = 'rejected by test'): void {
    this.request(response.type_url, names, { version: lastAccepted, nonce: response.nonce }, message);
  }

  /** Waits for the next response, which must be of `typeUrl`. */
  async expect(typeUrl: string, timeoutMs = 3000): Promise<Response> {
    const response = await this.inbox.next(timeoutMs);
    if (response.type_url !== typeUrl) throw new Error(`expected a ${typeUrl} response, got ${response.type_url} (${response.names.join(', ')})`);
    return response;
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

/** The same for incremental (delta) xDS. */
export class DeltaClient {
  readonly inbox = new Inbox<DeltaResponse>();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<AnyMsg, AnyMsg>;
  private sentNode = false;

  constructor(
    address: string,
    private readonly nodeId: string,
    private readonly options: ClientOptions = {},
  ) {
    this.client = new ADS(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
    this.call = (this.client as unknown as { DeltaAggregatedResources(md: grpc.Metadata): grpc.ClientDuplexStream<AnyMsg, AnyMsg> }).DeltaAggregatedResources(metadataOf(options));
    this.call.on('data', (message: AnyMsg) => this.inbox.push(message as unknown as DeltaResponse));
    this.call.on('status', (status: grpc.StatusObject) => this.inbox.end(status));
    this.call.on('error', () => {});
  }

  request(fields: {
    type_url: string;
    subscribe?: string[];
    unsubscribe?: string[];
    initial_resource_versions?: Record<string, string>;
    response_nonce?: string;
    error_detail?: string;
  }): void {
    const message: AnyMsg = {
      type_url: fields.type_url,
      resource_names_subscribe: fields.subscribe ?? [],
      resource_names_unsubscribe: fields.unsubscribe ?? [],
      initial_resource_versions: fields.initial_resource_versions ?? {},
      response_nonce: fields.response_nonce ?? '',
    };
    if (fields.error_detail) message.error_detail = { code: 3, message: fields.error_detail };
    if (!this.sentNode) {
      message.node = nodeOf(this.nodeId, this.options);
      this.sentNode = true;
    }
    this.call.write(message);
  }

  ack(response: DeltaResponse): void {
    this.request({ type_url: response.type_url, response_nonce: response.nonce });
  }

  async expect(typeUrl: string, timeoutMs = 3000): Promise<DeltaResponse> {
    const response = await this.inbox.next(timeoutMs);
    if (response.type_url !== typeUrl) throw new Error(`expected a ${typeUrl} delta response, got ${response.type_url}`);
    return response;
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

import { hash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeResource, grpcDefinitions } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';

/**
 * One proxy of the load generator, speaking state-of-the-world ADS the way Envoy does: its own
 * channel (so its own HTTP/2 connection), wildcard CDS then LDS, EDS for the EDS clusters and RDS
 * for the routes the listeners name, SDS for the secrets clusters and listeners reference, an ACK
 * for every response, and on a dropped stream a reconnect that names the versions it has.
 */

type Msg = Record<string, any>;
export const ADS = (grpc.loadPackageDefinition(grpcDefinitions) as any).envoy.service.discovery.v3.AggregatedDiscoveryService as grpc.ServiceClientConstructor;

/** Each proxy's channel: a connection of its own, as each Envoy has. */
export const PROXY_CHANNEL_OPTIONS = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 60_000,
};

/** Decoded resources are shared by many proxies (same bytes): decode each distinct one once. */
const decodeCache = new Map<string, Msg>();
export function decode(typeUrl: string, value: Buffer): Msg {
  // The one-shot digest: a Hash object per resource was a visible part of the load generators' CPU.
  const key = hash('sha1', value, 'base64');
  let decoded = decodeCache.get(key);
  if (!decoded) {
    decoded = decodeResource(typeUrl, value);
    if (decodeCache.size > 200_000) decodeCache.clear();
    decodeCache.set(key, decoded);
  }
  return decoded;
}

/** Every string value of `key` anywhere below `value` (e.g. `route_config_name`, SDS secret `name`s). */
function collect(value: unknown, pick: (obj: Msg) => string | undefined, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) collect(v, pick, out);
  else if (value && typeof value === 'object') {
    const found = pick(value as Msg);
    if (found) out.add(found);
    for (const v of Object.values(value)) collect(v, pick, out);
  }
  return out;
}
const rdsName = (o: Msg) => (o.rds && typeof o.rds.route_config_name === 'string' ? o.rds.route_config_name : undefined);
const sdsName = (o: Msg) => (o.sds_config && typeof o.name === 'string' ? o.name : undefined);

/**
 * The names `pick` finds in each resource, remembered per decoded object: decoded resources are
 * shared (decode), so each distinct one is walked once, not once per proxy that receives it.
 */
function namesIn(resources: Msg[], pick: (obj: Msg) => string | undefined, memo: WeakMap<Msg, readonly string[]>): Set<string> {
  const out = new Set<string>();
  for (const resource of resources) {
    let names = memo.get(resource);
    if (!names) memo.set(resource, (names = [...collect(resource, pick, new Set())]));
    for (const name of names) out.add(name);
  }
  return out;
}
const rdsMemo = new WeakMap<Msg, readonly string[]>();
const sdsMemo = new WeakMap<Msg, readonly string[]>();
/** The RDS route configurations decoded listeners name. */
export const rdsNames = (listeners: Msg[]) => namesIn(listeners, rdsName, rdsMemo);
/** The SDS secrets decoded clusters or listeners reference. */
export const sdsNames = (resources: Msg[]) => namesIn(resources, sdsName, sdsMemo);

interface TypeState {
  names: string[];
  version: string;
  nonce: string;
  /** A request asked for names no response has answered yet. */
  awaiting: boolean;
  acks: number;
}

export interface StreamStats {
  /** `performance.timeOrigin + performance.now()` of the last ACK sent. */
  lastAckAt: number;
  bytes: number;
  responses: number;
  drops: number;
}

/**
 * What both Envoy-like proxies (state of the world here, delta in delta-stream.ts) share: a
 * channel of their own, a stream that reconnects a second after it drops, and "synced" once CDS
 * and LDS are ACKed and no subscription waits for its first response.
 */
export abstract class ProxyStream<State extends { acks: number; awaiting: boolean }> {
  protected client: grpc.Client | undefined;
  protected call: grpc.ClientDuplexStream<Msg, Msg> | undefined;
  protected readonly types = new Map<string, State>();
  private closed = false;
  syncedAt: number | undefined;
  readonly stats: StreamStats = { lastAckAt: 0, bytes: 0, responses: 0, drops: 0 };

  constructor(
    protected readonly address: string,
    protected readonly nodeId: string,
    private readonly onSynced: (stream: ProxyStream<State>) => void,
  ) {}

  start(): void {
    this.client = new ADS(this.address, grpc.credentials.createInsecure(), PROXY_CHANNEL_OPTIONS);
    this.open();
  }

  /** Opens the stream, the first time or after a drop, and sends the first requests. */
  protected abstract open(): void;
  protected abstract onResponse(m: Msg): void;

  /** Takes a newly opened call: its responses, and a reconnect when it drops. */
  protected attach(call: grpc.ClientDuplexStream<Msg, Msg>): void {
    this.call = call;
    call.on('data', (m: Msg) => this.onResponse(m));
    call.on('error', () => {});
    call.on('status', () => {
      if (this.closed || this.call !== call) return;
      this.stats.drops++;
      setTimeout(() => !this.closed && this.open(), 1000);
    });
  }

  /** An ACK was sent: its time, and whether the proxy now holds its whole configuration. */
  protected acked(): void {
    this.stats.lastAckAt = performance.timeOrigin + performance.now();
    if (this.syncedAt === undefined && this.complete()) {
      this.syncedAt = this.stats.lastAckAt;
      this.onSynced(this);
    }
  }

  private complete(): boolean {
    if (!(this.types.get(TYPE_URLS.cluster)?.acks && this.types.get(TYPE_URLS.listener)?.acks)) return false;
    for (const state of this.types.values()) if (state.awaiting) return false;
    return true;
  }

  close(): void {
    this.closed = true;
    this.call?.end();
    this.client?.close();
  }
}

export class EnvoyStream extends ProxyStream<TypeState> {
  protected open(): void {
    const call = (this.client as any).StreamAggregatedResources() as grpc.ClientDuplexStream<Msg, Msg>;
    this.attach(call);
    let first = true;
    const send = (typeUrl: string, state: TypeState | undefined, names: string[]) => {
      call.write({ ...(first ? { node: { id: this.nodeId, cluster: 'load', user_agent_name: 'envoy' } } : {}), type_url: typeUrl, resource_names: names, version_info: state?.version ?? '', response_nonce: '' });
      first = false;
    };
    // On a reconnect, every type is asked for again with the version it has (Envoy's behaviour).
    if (this.types.size === 0) send(TYPE_URLS.cluster, undefined, []);
    for (const [typeUrl, state] of this.types) {
      state.nonce = '';
      send(typeUrl, state, state.names);
    }
  }

  private request(typeUrl: string, names: string[]): void {
    let state = this.types.get(typeUrl);
    const same = state && state.names.length === names.length && state.names.every((n, i) => n === names[i]);
    if (state && same) return;
    // Envoy does not subscribe to EDS, RDS or SDS until something names a resource of the type.
    if (!state && names.length === 0 && typeUrl !== TYPE_URLS.listener) return;
    if (!state) this.types.set(typeUrl, (state = { names, version: '', nonce: '', awaiting: true, acks: 0 }));
    state.names = names;
    state.awaiting = names.length > 0;
    this.call?.write({ type_url: typeUrl, resource_names: names, version_info: state.version, response_nonce: state.nonce });
  }

  protected onResponse(m: Msg): void {
    const typeUrl = String(m.type_url);
    const resources = (m.resources ?? []) as Array<{ type_url: string; value: Buffer }>;
    this.stats.responses++;
    for (const r of resources) this.stats.bytes += r.value.length;
    if (typeUrl === TYPE_URLS.cluster) {
      const decoded = resources.map((r) => decode(r.type_url, r.value));
      const eds = decoded.filter((c) => c.type === 'EDS').map((c) => String(c.eds_cluster_config?.service_name || c.name)).sort();
      this.request(TYPE_URLS.endpoint, eds);
      this.request(TYPE_URLS.secret, [...sdsNames(decoded)].sort());
    } else if (typeUrl === TYPE_URLS.listener) {
      const decoded = resources.map((r) => decode(r.type_url, r.value));
      this.request(TYPE_URLS.route, [...rdsNames(decoded)].sort());
      this.request(TYPE_URLS.secret, [...new Set([...(this.types.get(TYPE_URLS.secret)?.names ?? []), ...sdsNames(decoded)])].sort());
    }
    const state = this.types.get(typeUrl) ?? { names: [], version: '', nonce: '', awaiting: false, acks: 0 };
    this.types.set(typeUrl, state);
    state.version = String(m.version_info);
    state.nonce = String(m.nonce);
    state.awaiting = false;
    state.acks++;
    this.call?.write({ type_url: typeUrl, resource_names: state.names, version_info: state.version, response_nonce: state.nonce });
    // Envoy asks for listeners once its clusters are in.
    if (typeUrl === TYPE_URLS.cluster && !this.types.has(TYPE_URLS.listener)) this.request(TYPE_URLS.listener, []);
    this.acked();
  }
}

import * as grpc from '@grpc/grpc-js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { ADS, PROXY_CHANNEL_OPTIONS, type StreamStats } from './envoy-stream.js';

type Msg = Record<string, any>;

/**
 * A proxy of the floor measurement (floor-server.ts): the same channel layout as EnvoyStream (a
 * connection of its own), one EDS subscription, an ACK for every response, as EnvoyStream treats
 * an EDS response. Synced after `messages` ACKs.
 */
export class FloorStream {
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Msg, Msg> | undefined;
  private acks = 0;
  syncedAt: number | undefined;
  readonly stats: StreamStats = { lastAckAt: 0, bytes: 0, responses: 0, drops: 0 };

  constructor(
    private readonly address: string,
    private readonly nodeId: string,
    private readonly messages: number,
    private readonly onSynced: (stream: FloorStream) => void,
  ) {}

  start(): void {
    this.client = new ADS(this.address, grpc.credentials.createInsecure(), PROXY_CHANNEL_OPTIONS);
    const call = (this.client as any).StreamAggregatedResources() as grpc.ClientDuplexStream<Msg, Msg>;
    this.call = call;
    call.on('data', (m: Msg) => this.onResponse(m));
    call.on('error', () => {});
    call.on('status', () => void this.stats.drops++);
    call.write({ node: { id: this.nodeId, cluster: 'load', user_agent_name: 'envoy' }, type_url: TYPE_URLS.endpoint, resource_names: ['floor'], version_info: '', response_nonce: '' });
  }

  private onResponse(m: Msg): void {
    this.stats.responses++;
    for (const r of (m.resources ?? []) as Array<{ value: Buffer }>) this.stats.bytes += r.value.length;
    this.call?.write({ type_url: TYPE_URLS.endpoint, resource_names: ['floor'], version_info: String(m.version_info), response_nonce: String(m.nonce) });
    this.stats.lastAckAt = performance.timeOrigin + performance.now();
    if (++this.acks === this.messages && this.syncedAt === undefined) {
      this.syncedAt = this.stats.lastAckAt;
      this.onSynced(this);
    }
  }

  close(): void {
    this.call?.end();
    this.client?.close();
  }
}

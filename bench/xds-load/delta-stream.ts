import * as grpc from '@grpc/grpc-js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { ProxyStream, decode, rdsNames, sdsNames } from './envoy-stream.js';

type Msg = Record<string, any>;

interface TypeState {
  /** CDS and LDS: every resource of the type (Envoy's legacy wildcard). */
  wildcard: boolean;
  /** The names subscribed to, when not wildcard. */
  names: Set<string>;
  /** What the proxy holds: name → version (sent back as initial_resource_versions on a reconnect). */
  versions: Map<string, string>;
  /** Decoded CDS/LDS resources by name, to find the EDS, RDS and SDS names they reference. */
  decoded: Map<string, Msg>;
  /** A subscription asked for names no response has answered yet. */
  awaiting: boolean;
  acks: number;
}

/**
 * One proxy of the load generator speaking incremental (delta) ADS the way Envoy does: its own
 * connection, wildcard CDS then LDS, explicit subscriptions (and unsubscriptions) for the EDS, RDS
 * and SDS names the clusters and listeners reference, an ACK (the response's nonce) for every
 * response, and on a dropped stream a reconnect that names the versions it holds.
 */
export class DeltaEnvoyStream extends ProxyStream<TypeState> {
  private sentNode = false;

  private write(message: Msg): void {
    if (!this.sentNode) message.node = { id: this.nodeId, cluster: 'load', user_agent_name: 'envoy' };
    this.sentNode = true;
    this.call?.write(message);
  }

  protected open(): void {
    this.attach((this.client as any).DeltaAggregatedResources() as grpc.ClientDuplexStream<Msg, Msg>);
    this.sentNode = false;
    if (this.types.size === 0) {
      this.subscribe(TYPE_URLS.cluster, undefined);
      return;
    }
    // A reconnect re-subscribes every type and names what the proxy holds, as Envoy does.
    for (const [typeUrl, state] of this.types) {
      this.write({
        type_url: typeUrl,
        resource_names_subscribe: state.wildcard ? [] : [...state.names],
        resource_names_unsubscribe: [],
        initial_resource_versions: Object.fromEntries(state.versions),
        response_nonce: '',
      });
    }
  }

  /** Subscribes to `names` (undefined: the wildcard), sending only what changed, as Envoy does. */
  private subscribe(typeUrl: string, names: Set<string> | undefined): void {
    let state = this.types.get(typeUrl);
    if (!state) {
      // Envoy does not subscribe to EDS, RDS or SDS until something names a resource of the type.
      if (names && names.size === 0) return;
      state = { wildcard: names === undefined, names: new Set(), versions: new Map(), decoded: new Map(), awaiting: false, acks: 0 };
      this.types.set(typeUrl, state);
      if (state.wildcard) {
        state.awaiting = true;
        this.write({ type_url: typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' });
        return;
      }
    }
    if (!names) return;
    const added = [...names].filter((n) => !state.names.has(n));
    const removed = [...state.names].filter((n) => !names.has(n));
    if (added.length === 0 && removed.length === 0) return;
    for (const n of removed) {
      state.names.delete(n);
      state.versions.delete(n);
    }
    for (const n of added) state.names.add(n);
    state.awaiting = state.awaiting || added.length > 0;
    this.write({ type_url: typeUrl, resource_names_subscribe: added, resource_names_unsubscribe: removed, initial_resource_versions: {}, response_nonce: '' });
  }

  protected onResponse(m: Msg): void {
    const typeUrl = String(m.type_url);
    const state = this.types.get(typeUrl);
    this.stats.responses++;
    if (state) {
      const keepDecoded = typeUrl === TYPE_URLS.cluster || typeUrl === TYPE_URLS.listener;
      for (const r of (m.resources ?? []) as Array<{ name: string; version: string; resource?: { type_url: string; value: Buffer } }>) {
        state.versions.set(r.name, r.version);
        if (!r.resource) continue;
        this.stats.bytes += r.resource.value.length;
        if (keepDecoded) state.decoded.set(r.name, decode(r.resource.type_url, r.resource.value));
      }
      for (const name of (m.removed_resources ?? []) as string[]) {
        state.versions.delete(name);
        state.decoded.delete(name);
      }
      state.awaiting = false;
      state.acks++;
    }
    this.write({ type_url: typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: String(m.nonce) });
    if (state && typeUrl === TYPE_URLS.cluster) {
      const clusters = [...state.decoded.values()];
      this.subscribe(TYPE_URLS.endpoint, new Set(clusters.filter((c) => c.type === 'EDS').map((c) => String(c.eds_cluster_config?.service_name || c.name))));
      this.subscribe(TYPE_URLS.secret, new Set([...sdsNames(clusters), ...sdsNames([...(this.types.get(TYPE_URLS.listener)?.decoded.values() ?? [])])]));
      // Envoy asks for listeners once its clusters are in.
      if (!this.types.has(TYPE_URLS.listener)) this.subscribe(TYPE_URLS.listener, undefined);
    } else if (state && typeUrl === TYPE_URLS.listener) {
      const listeners = [...state.decoded.values()];
      this.subscribe(TYPE_URLS.route, rdsNames(listeners));
      this.subscribe(TYPE_URLS.secret, new Set([...sdsNames(listeners), ...sdsNames([...(this.types.get(TYPE_URLS.cluster)?.decoded.values() ?? [])])]));
    }
    this.acked();
  }
}

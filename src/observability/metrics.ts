import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client defaults that list every libuv handle or resource on each scrape (the handles twice).
 * With 10,000 proxy connections that held the event loop for about 70 ms a scrape, pushes waiting
 * behind it; the number they count is the connections. process_open_fds (about 25 ms there) stays:
 * it is what an alert on the open-file limit needs.
 */
const PER_HANDLE_DEFAULTS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total'];

/**
 * The control plane's Prometheus metrics, on a registry of its own (never prom-client's global one)
 * so several control planes can live in one process, as the tests run them.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'API requests answered, by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'API request latency, by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: 'store_operation_duration_seconds',
    help: 'Resource store operation latency, by operation and resource type',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Kuma's two xDS health figures, in milliseconds as Kuma reports them. */
  readonly xdsGeneration = new Histogram({
    name: 'xds_generation',
    help: 'Time to generate and encode one proxy\'s xDS configuration, in milliseconds',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250],
    registers: [this.registry],
  });
  readonly xdsDelivery = new Histogram({
    name: 'xds_delivery',
    help: 'Time from a change (store write or proxy connection) until the proxy ACKed every xDS type it changed, in milliseconds',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
    registers: [this.registry],
  });

  /** Rollouts (src/xds/rollouts.ts): a write until every concerned proxy answered, and the NACKs. */
  readonly rolloutDuration = new Histogram({
    name: 'skiff_rollout_duration_seconds',
    help: 'Time from a write through the API until every proxy it changed ACKed, NACKed or went offline, in seconds',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly xdsNacks = new Counter({
    name: 'skiff_xds_nacks_total',
    help: 'xDS responses proxies rejected (NACK), by type URL',
    labelNames: ['type_url'] as const,
    registers: [this.registry],
  });

  /**
   * Leadership (Kuma's `leader` gauge: 1 on the leader) and, on PostgreSQL, the change feed's
   * listening connection: up or not, and how often it was re-established.
   */
  watchCluster(cluster: { isLeader(): boolean }, store?: { feedHealth(): { connected: boolean; reconnects: number } | undefined }): void {
    new Gauge({
      name: 'leader',
      help: '1 when this control plane is the leader of the instances sharing its store',
      registers: [this.registry],
      collect() {
        this.set(cluster.isLeader() ? 1 : 0);
      },
    });
    if (!store) return;
    new Gauge({
      name: 'store_change_feed_connected',
      help: "1 while the PostgreSQL connection listening to other instances' changes is up",
      registers: [this.registry],
      collect() {
        this.set(store.feedHealth()?.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'store_change_feed_reconnects',
      help: 'Times the change feed lost its PostgreSQL connection and resynced after reconnecting',
      registers: [this.registry],
      collect() {
        this.set(store.feedHealth()?.reconnects ?? 0);
      },
    });
  }

  constructor(options: { processMetrics?: boolean } = {}) {
    if (!options.processMetrics) return;
    collectDefaultMetrics({ register: this.registry });
    for (const name of PER_HANDLE_DEFAULTS) this.registry.removeSingleMetric(name);
  }
}

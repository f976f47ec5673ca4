import pg from 'pg';
import type { ResourceTypeName } from '../../core/model.js';
import type { ChangeEvent } from '../store.js';
import { clientConfig } from './connection.js';
import type { PostgresOptions } from './postgres-store.js';

/** The trigger's channel for the resources table of `schema` (migration 2). */
export const changeChannel = (schema: string) => `skiff_resource_changes/${schema}`;

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** A LISTEN connection can die silently (a half-open TCP connection): a cheap query finds out. */
const PROBE_INTERVAL_MS = 2000;

export interface ChangeFeedHealth {
  connected: boolean;
  /** Times the listening connection was lost and established again. */
  reconnects: number;
}

/**
 * Changes committed by other control planes on the same database, from the `resources` trigger's
 * NOTIFY (migration 2), as the store's own change events. A notification lost with its connection
 * cannot be recovered, so every reconnection after a loss emits `resync`: subscribers re-read what
 * they keep. A change can be delayed by an outage, never lost.
 */
export class PostgresChangeFeed {
  private client: pg.Client | undefined;
  private channel: string | undefined;
  private closed = false;
  private lost = false;
  private backoffMs = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly state: ChangeFeedHealth = { connected: false, reconnects: 0 };

  constructor(
    private readonly options: PostgresOptions,
    private readonly instanceId: string,
    private readonly emit: (event: ChangeEvent) => void,
    private readonly onConnectionLost: (err: Error) => void = () => {},
  ) {}

  /** Resolves once listening; a first connection that fails is retried in the background. */
  async start(): Promise<void> {
    await this.connect();
  }

  health(): ChangeFeedHealth {
    return { ...this.state };
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...clientConfig(this.options, this.instanceId, 'change-feed'), keepAlive: true });
    let failed = false;
    const lose = (err: Error) => {
      if (failed) return;
      failed = true;
      this.onLost(client, err);
    };
    client.on('error', lose);
    client.on('end', () => lose(new Error('connection ended')));
    client.on('notification', (message) => this.onNotification(message));
    try {
      await client.connect();
      const schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]!.schema;
      this.channel = changeChannel(schema);
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (err) {
      lose(err as Error);
      return;
    }
    if (failed || this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.state.connected = true;
    this.backoffMs = MIN_BACKOFF_MS;
    this.probeTimer = setInterval(() => {
      client.query('SELECT 1').catch((err: Error) => lose(err));
    }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
    if (this.lost) {
      this.lost = false;
      this.state.reconnects++;
      this.emit({ action: 'resync' });
    }
  }

  private onLost(client: pg.Client, err: Error): void {
    if (this.client === client) this.client = undefined;
    clearInterval(this.probeTimer);
    this.state.connected = false;
    client.end().catch(() => {});
    if (this.closed) return;
    this.lost = true;
    this.onConnectionLost(err);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private onNotification(message: pg.Notification): void {
    if (message.channel !== this.channel || !message.payload) return;
    let change: { action?: string; type?: string; mesh?: string; name?: string; instance?: string | null };
    try {
      change = JSON.parse(message.payload) as typeof change;
    } catch {
      return;
    }
    if (change.instance === this.instanceId) return; // our own write: already told in process
    if ((change.action !== 'create' && change.action !== 'update' && change.action !== 'delete') || !change.type || change.name === undefined) return;
    this.emit({ action: change.action, type: change.type as ResourceTypeName, mesh: change.mesh ?? '', name: change.name });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.probeTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

import pg from 'pg';
import type { ResourceTypeName } from '../../core/model.js';
import type { ChangeEvent } from '../store.js';
import { clientConfig } from './connection.js';
import type { PostgresOptions } from './postgres-store.js';
import { ReconnectingSession } from './session.js';

/** The trigger's channel for the resources table of `schema` (migration 2). */
export const changeChannel = (schema: string) => `skiff_resource_changes/${schema}`;

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
  private channel: string | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly state: ChangeFeedHealth = { connected: false, reconnects: 0 };
  private readonly session: ReconnectingSession;

  constructor(
    options: PostgresOptions,
    private readonly instanceId: string,
    private readonly emit: (event: ChangeEvent) => void,
    onConnectionLost: (err: Error) => void = () => {},
  ) {
    this.session = new ReconnectingSession(clientConfig(options, instanceId, 'change-feed'), {
      setUp: async (client) => {
        client.on('notification', (message) => this.onNotification(message));
        const schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]!.schema;
        this.channel = changeChannel(schema);
        await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
      },
      up: (client, reconnected) => {
        this.state.connected = true;
        clearInterval(this.probeTimer);
        this.probeTimer = setInterval(() => client.query('SELECT 1').catch((err: Error) => this.session.lost(client, err)), PROBE_INTERVAL_MS);
        this.probeTimer.unref();
        if (reconnected) {
          this.state.reconnects++;
          this.emit({ action: 'resync' });
        }
      },
      down: (err) => {
        this.state.connected = false;
        clearInterval(this.probeTimer);
        onConnectionLost(err);
      },
    });
  }

  /** Resolves once listening; a first connection that fails is retried in the background. */
  async start(): Promise<void> {
    await this.session.start();
  }

  health(): ChangeFeedHealth {
    return { ...this.state };
  }

  private onNotification(message: pg.Notification): void {
    if (message.channel !== this.channel || !message.payload) return;
    let change: { action?: string; type?: string; mesh?: string; name?: string; instance?: string | null; rollout?: string | null };
    try {
      change = JSON.parse(message.payload) as typeof change;
    } catch {
      return;
    }
    if (change.instance === this.instanceId) return; // our own write: already told in process
    if ((change.action !== 'create' && change.action !== 'update' && change.action !== 'delete') || !change.type || change.name === undefined) return;
    this.emit({ action: change.action, type: change.type as ResourceTypeName, mesh: change.mesh ?? '', name: change.name, ...(typeof change.rollout === 'string' ? { rollout: change.rollout } : {}) });
  }

  async close(): Promise<void> {
    clearInterval(this.probeTimer);
    await this.session.close();
  }
}

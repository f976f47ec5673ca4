import pg from 'pg';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

export interface SessionHandlers {
  /** Runs on each new connection before it counts as up (LISTEN, a first heartbeat); throwing fails the attempt. */
  setUp(client: pg.Client): Promise<void>;
  /** The connection is up; `reconnected` when a connection was lost or an attempt failed before. */
  up(client: pg.Client, reconnected: boolean): void;
  /** The connection is gone; a new one is attempted after the backoff. */
  down(err: Error): void;
}

/**
 * One dedicated PostgreSQL connection that outlives connection losses: the change feed's LISTEN
 * and the leader's advisory-lock session each need a connection of their own, not a pooled one.
 * A lost connection (error, end, or a failed query the owner reports with `lost`) is closed and
 * replaced after a backoff of 100 ms doubling to 5 s.
 */
export class ReconnectingSession {
  private current: pg.Client | undefined;
  private closed = false;
  /** A connection was lost or an attempt failed since the last time it was up. */
  private lostSinceUp = false;
  private backoffMs = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly losers = new WeakMap<pg.Client, (err: Error) => void>();

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly handlers: SessionHandlers,
  ) {}

  /** Resolves after the first attempt (up, or failed and retrying in the background). */
  start(): Promise<void> {
    return this.connect();
  }

  /** The connection while it is up. */
  get client(): pg.Client | undefined {
    return this.current;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...this.config, keepAlive: true });
    let failed = false;
    const lose = (err: Error) => {
      if (failed) return;
      failed = true;
      this.onLost(client, err);
    };
    this.losers.set(client, lose);
    client.on('error', lose);
    client.on('end', () => lose(new Error('connection ended')));
    try {
      await client.connect();
      await this.handlers.setUp(client);
    } catch (err) {
      lose(err as Error);
      return;
    }
    if (failed || this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.current = client;
    this.backoffMs = MIN_BACKOFF_MS;
    const reconnected = this.lostSinceUp;
    this.lostSinceUp = false;
    this.handlers.up(client, reconnected);
  }

  /** The owner saw the connection fail (a query errored): replace it. */
  lost(client: pg.Client, err: Error): void {
    this.losers.get(client)?.(err);
  }

  private onLost(client: pg.Client, err: Error): void {
    if (this.current === client) this.current = undefined;
    client.end().catch(() => {});
    this.lostSinceUp = true;
    this.handlers.down(err);
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Runs `last` on the connection if it is up (a farewell), then closes it for good. */
  async close(last?: (client: pg.Client) => Promise<void>): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.current;
    this.current = undefined;
    if (!client) return;
    await last?.(client).catch(() => {});
    await client.end().catch(() => {});
  }
}

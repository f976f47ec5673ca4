import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { envelope } from './envelope.js';

/** Seconds a client should wait before retrying while the store is down (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Requests that failed because the store is unavailable. An outage fails every request at once,
 * so one log line per interval says how many did, instead of one error line per request.
 */
export class StoreOutageLog {
  private failed = 0;
  private lastLogged = -Infinity;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  record(reason: string): void {
    this.failed++;
    const now = Date.now();
    if (now - this.lastLogged < this.intervalMs) return;
    this.logger.warn({ failedRequests: this.failed, reason, intervalSeconds: this.intervalMs / 1000 }, 'store unavailable');
    this.failed = 0;
    this.lastLogged = now;
  }
}

/** The API's answer while the store is down: 503 in Kuma's envelope, with `Retry-After`; no detail of the store (its address, its user) leaks. */
export function sendStoreUnavailable(reply: FastifyReply, outages: StoreOutageLog, err: Error): void {
  outages.record(err.message);
  void reply
    .code(503)
    .header('retry-after', String(RETRY_AFTER_SECONDS))
    .type('application/json')
    .send(envelope(503, 'Service Unavailable', 'the store is unavailable; retry the request later'));
}

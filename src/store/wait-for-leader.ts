import { StoreUnavailableError } from '../core/errors.js';

/** Leader work (a signing key, a mesh CA) a follower needs has not appeared yet: answered 503, retry. */
export class LeaderWorkPendingError extends StoreUnavailableError {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderWorkPendingError';
  }
}

const POLL_MS = 100;

/**
 * Waits, on a follower, until what the leader creates is in the store: `ready` is polled every
 * 100 ms for at most `timeoutMs`, then LeaderWorkPendingError with `message`.
 */
export async function waitForLeaderWork(ready: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (Date.now() >= deadline) throw new LeaderWorkPendingError(message);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

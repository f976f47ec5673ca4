import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildDiagnosticsApp } from '../../src/api/diagnostics.js';
import { Metrics } from '../../src/observability/metrics.js';
import { CheckedStore } from '../../src/store/decorators.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';

class UnreachableStore extends MemoryStore {
  override async ping(): Promise<void> {
    throw new Error('connection refused');
  }
}

describe('diagnostics server', () => {
  it('is healthy and ready while the store answers, and exports store and process metrics', async (t) => {
    const metrics = new Metrics({ processMetrics: true });
    const store = new CheckedStore(new MemoryStore(), metrics.storeLatency);
    await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
    const app = await buildDiagnosticsApp({ store, metrics, logger: pino({ level: 'silent' }) });
    t.after(() => app.close());
    assert.equal((await app.inject('/healthy')).statusCode, 200);
    assert.equal((await app.inject('/ready')).statusCode, 200);
    const text = (await app.inject('/metrics')).body;
    assert.match(text, /store_operation_duration_seconds_count\{operation="create",type="Mesh"\} 1/);
    assert.match(text, /process_resident_memory_bytes/);
    assert.match(text, /^process_open_fds \d+$/m);
    // Listing every libuv handle per scrape stalls the event loop with thousands of proxy connections.
    assert.doesNotMatch(text, /nodejs_active_(handles|resources)/);
  });

  it('is not ready when the store does not answer, but still healthy', async (t) => {
    const app = await buildDiagnosticsApp({ store: new UnreachableStore(), metrics: new Metrics(), logger: pino({ level: 'silent' }) });
    t.after(() => app.close());
    assert.equal((await app.inject('/ready')).statusCode, 503);
    assert.equal((await app.inject('/healthy')).statusCode, 200);
  });
});

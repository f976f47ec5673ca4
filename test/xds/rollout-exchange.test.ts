import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceRecord, RolloutPart } from '../../src/store/cluster.js';
import { isStoreUnavailable } from '../../src/core/errors.js';
import { SingleInstance } from '../../src/store/cluster.js';
import { mergeParts, RolloutExchange } from '../../src/xds/rollout-exchange.js';
import { RolloutTracker } from '../../src/xds/rollouts.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

const part = (instance: string, startMs: number, endMs: number | null, dataplanes: RolloutPart['dataplanes']): RolloutPart => ({
  id: 'r1',
  instance,
  resource: { type: 'MeshTimeout', mesh: 'default', name: 't' },
  operation: 'update',
  startTime: at(startMs),
  endTime: endMs === null ? null : at(endMs),
  dataplanes,
});

const instance = (id: string, startMs: number): InstanceRecord => ({ id, address: `${id}:5678`, version: '0', startTime: at(startMs), heartbeatTime: at(0), leader: id === 'a', proxies: 0 });

describe('mergeParts: one rollout as every instance knows it', () => {
  it('adds up the parts, starts at the earliest and ends at the last part’s end', () => {
    const view = mergeParts(
      [
        part('a', 0, 5, []),
        part('b', 20, 300, [{ mesh: 'default', name: 'web-1', state: 'acknowledged' }]),
        part('c', 15, 200, [{ mesh: 'default', name: 'web-2', state: 'rejected', error: 'bad cluster' }]),
      ],
      [instance('a', -1000), instance('b', -1000), instance('c', -1000)],
      'a',
      T0 + 400,
    );
    assert.deepEqual([view.concerned, view.acknowledged, view.rejected, view.pending], [2, 1, 1, 0]);
    assert.equal(view.startTime, at(0));
    assert.equal(view.endTime, at(300));
    assert.deepEqual(view.dataplanes, [
      { mesh: 'default', name: 'web-1', state: 'acknowledged', instance: 'b' },
      { mesh: 'default', name: 'web-2', state: 'rejected', instance: 'c', error: 'bad cluster' },
    ]);
  });

  it('has not ended while a live instance’s part is pending, or a live instance that was up has no part yet', () => {
    const live = [instance('a', -1000), instance('b', -1000)];
    assert.equal(mergeParts([part('a', 0, 5, []), part('b', 10, null, [{ mesh: 'default', name: 'web-1', state: 'pending' }])], live, 'a', T0 + 50).endTime, null);
    assert.equal(mergeParts([part('a', 0, 5, [])], live, 'a', T0 + 50).endTime, null, 'b has not saved its part yet');
    assert.equal(mergeParts([part('a', 0, 5, [])], live, 'a', T0 + 10_001).endTime, at(5), 'b missed the notification: waited for no longer');
    assert.equal(mergeParts([part('a', 0, 5, [])], [instance('a', -1000), instance('b', 100)], 'a', T0 + 50).endTime, at(5), 'b started after the write');
  });

  it('reads a dead instance’s pending proxies as offline, and counts a proxy seen on two instances once, by its most telling state', () => {
    const view = mergeParts(
      [
        part('a', 0, 10, [{ mesh: 'default', name: 'web-2', state: 'acknowledged' }]),
        part('gone', 5, null, [
          { mesh: 'default', name: 'web-1', state: 'pending' },
          { mesh: 'default', name: 'web-2', state: 'offline' },
        ]),
      ],
      [instance('a', -1000)],
      'a',
      T0 + 50,
    );
    assert.equal(view.endTime, at(10));
    assert.deepEqual(
      view.dataplanes.map((d) => `${d.name} ${d.state} ${d.instance}`),
      ['web-2 acknowledged a', 'web-1 offline gone'],
    );
    assert.deepEqual([view.concerned, view.acknowledged, view.pending], [2, 1, 0]);
  });

  it('answers a store outage while reading the other instances’ parts as the store being unavailable (the API’s 503)', async () => {
    const self = { id: 'a', address: 'a:5678', version: '0', startTime: new Date(), proxies: () => 0 };
    const cluster = Object.assign(new SingleInstance(self), {
      rolloutParts: { save: async () => {}, others: async () => Promise.reject(new Error('Connection terminated unexpectedly')) },
    });
    const tracker = new RolloutTracker('a');
    tracker.start('r1', { type: 'MeshTimeout', mesh: 'default', name: 't' }, 'create');
    const exchange = new RolloutExchange(tracker, cluster);
    try {
      await assert.rejects(exchange.get('r1'), (err: unknown) => isStoreUnavailable(err) && /Connection terminated/.test((err as Error).message));
      await assert.rejects(exchange.list(), (err: unknown) => isStoreUnavailable(err));
    } finally {
      exchange.close();
    }
  });
});

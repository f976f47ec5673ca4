import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { perConf } from '../../src/policies/edits.js';

describe('perConf', () => {
  it('builds once per conf object and variant, undefined results included', () => {
    const calls: string[] = [];
    const keyOf = perConf((conf: { n: number }, variant: string) => {
      calls.push(`${conf.n}/${variant}`);
      return conf.n > 0 ? `key ${variant} ${conf.n}` : undefined;
    });
    const a = { n: 1 };
    const equalToA = { n: 1 };
    const none = { n: 0 };
    assert.equal(keyOf(a, 'http'), 'key http 1');
    assert.equal(keyOf(a, 'http'), 'key http 1');
    assert.equal(keyOf(a, 'tcp'), 'key tcp 1');
    assert.equal(keyOf(equalToA, 'http'), 'key http 1');
    assert.equal(keyOf(none, 'http'), undefined);
    assert.equal(keyOf(none, 'http'), undefined);
    // An equal but distinct object is built again: the memo is by identity, never by content.
    assert.deepEqual(calls, ['1/http', '1/tcp', '1/http', '0/http']);
  });
});

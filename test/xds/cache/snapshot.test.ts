import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { test } from 'node:test';
import { versionOf, type EncodedResource } from '../../../src/xds/cache/snapshot.js';
import { encodedAny } from '../../../src/xds/wire.js';
import { TYPE_URLS } from '../../../src/xds/resources.js';

const resource = (name: string, version: string): EncodedResource => ({ name, version, any: encodedAny(TYPE_URLS.endpoint, Buffer.from(name)) });

/** The version as every instance computes it: the sorted `name NUL version` parts joined by U+0001, hashed. */
const expected = (parts: Array<[string, string]>) =>
  hash(
    'sha256',
    parts
      .map(([n, v]) => `${n}\u0000${v}`)
      .sort()
      .join('\u0001'),
    'base64url',
  ).slice(0, 22);

test('versionOf: one version for a set of resources, whatever their order, and the same text on every instance', () => {
  // Names that are prefixes of others, and a listing out of order.
  const parts: Array<[string, string]> = [
    ['svc-1', 'a'],
    ['svc-10', 'b'],
    ['svc-1[version=v2]', 'c'],
    ['svc-2', 'd'],
  ];
  const sorted = [...parts].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([n, v]) => resource(n, v));
  const shuffled = [parts[3]!, parts[0]!, parts[2]!, parts[1]!].map(([n, v]) => resource(n, v));
  assert.equal(versionOf(sorted), expected(parts));
  assert.equal(versionOf(shuffled), expected(parts));
  assert.equal(versionOf([]), expected([]));
  assert.equal(versionOf([resource('only', 'x')]), expected([['only', 'x']]));
});

test('versionOf: a changed resource version or name changes the version', () => {
  const base = versionOf([resource('a', '1'), resource('b', '2')]);
  assert.notEqual(versionOf([resource('a', '1'), resource('b', '3')]), base);
  assert.notEqual(versionOf([resource('a', '1'), resource('c', '2')]), base);
  assert.notEqual(versionOf([resource('a', '1')]), base);
});

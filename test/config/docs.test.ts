import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { CONFIG_LEAVES } from '../../src/config/env.js';

it('docs/configuration.md lists every configuration key with its variable and default', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const leaf of CONFIG_LEAVES) {
    const row = `| \`${leaf.path.join('.')}\` | \`${leaf.envName}\` | \`${JSON.stringify(leaf.schema.default)}\``;
    assert.ok(doc.includes(row), `docs/configuration.md is missing or out of date for ${leaf.path.join('.')}`);
  }
});

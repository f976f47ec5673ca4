import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { storeConformance } from './conformance.js';

function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sqlite-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

storeConformance('sqlite', async () => {
  const { dir, remove } = tempDir();
  const store = new SqliteStore(join(dir, 'skiff.db'));
  return { store, cleanup: async () => { await store.close(); remove(); } };
});

describe('SqliteStore specifics', () => {
  it('keeps resources across close and reopen, creating the file and its directory', async () => {
    const { dir, remove } = tempDir();
    const path = join(dir, 'nested', 'skiff.db');
    try {
      const first = new SqliteStore(path);
      await first.create({ type: 'Mesh', mesh: '', name: 'default', spec: { mtls: { enabledBackend: '' } } });
      await first.close();
      const second = new SqliteStore(path);
      const read = await second.get({ type: 'Mesh', mesh: '', name: 'default' });
      assert.deepEqual(read?.spec, { mtls: { enabledBackend: '' } });
      await second.close();
    } finally {
      remove();
    }
  });
});

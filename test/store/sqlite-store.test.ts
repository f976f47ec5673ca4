import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
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

  it('creates the database, its WAL and its SHM owner-only even under a permissive umask', async () => {
    const { dir, remove } = tempDir();
    const path = join(dir, 'state', 'skiff.db');
    const previous = process.umask(0o022);
    try {
      const store = new SqliteStore(path);
      await store.create({ type: 'Mesh', mesh: '', name: 'default', spec: {} });
      const mode = (p: string) => `0${(statSync(p).mode & 0o777).toString(8)}`;
      // The WAL and SHM exist while the database is open: check all three then.
      assert.deepEqual([path, `${path}-wal`, `${path}-shm`].map(mode), ['0600', '0600', '0600']);
      assert.equal(mode(join(dir, 'state')), '0700');
      await store.close();
    } finally {
      process.umask(previous);
      remove();
    }
  });
});

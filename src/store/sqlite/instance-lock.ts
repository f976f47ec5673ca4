import Database from 'better-sqlite3';
import { touchPrivate } from '../private-files.js';

/** Thrown when another control plane already serves from the same SQLite file. */
export class SqliteInUseError extends Error {
  constructor(path: string) {
    super(
      `the SQLite database ${path} is in use by another skiff-cp: SQLite serves one control plane per file. ` +
        'Stop the other one, give this one its own store.sqlite.path, or run several instances on PostgreSQL (store.type: postgres)',
    );
    this.name = 'SqliteInUseError';
  }
}

/**
 * Takes the one-control-plane lock of a SQLite database: an exclusive SQLite lock on `{path}.lock`,
 * held for as long as the process lives (the operating system releases it when the process ends,
 * however it ends). The database itself stays readable by other tools (sqlite3, backups, skiffctl
 * tests); only a second control plane is refused. Returns the release function.
 */
export function lockSqliteForControlPlane(path: string): () => void {
  const lockPath = `${path}.lock`;
  touchPrivate(lockPath);
  const lock = new Database(lockPath);
  try {
    lock.pragma('busy_timeout = 0');
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.pragma('journal_mode = MEMORY'); // no -journal file beside the lock
    // A write takes the exclusive lock; in exclusive locking mode it is kept after the commit.
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;');
    lock.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new SqliteInUseError(path);
    throw err;
  }
  return () => lock.close();
}

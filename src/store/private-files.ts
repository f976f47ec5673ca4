import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Files that hold secrets (the SQLite database and its WAL/SHM, which carry the admin token, the
 * signing keys and the mesh CA keys; generated private keys) are owner-only from the moment they
 * exist: they are created with the mode, never created and then narrowed, so there is no window.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates `dir` (and missing parents) owner-only; an existing directory keeps its mode. */
export function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates `path` empty and owner-only when it is missing; an existing file is neither truncated
 * nor changed. SQLite gives its `-wal` and `-shm` files the database file's mode, so creating the
 * database this way before SQLite opens it makes all three owner-only.
 */
export function touchPrivate(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
}

/** The existing paths among `paths` that group or others may read or write, with their modes. */
export function sharedSecretFiles(paths: readonly string[]): Array<{ path: string; mode: string }> {
  const shared: Array<{ path: string; mode: string }> = [];
  for (const path of paths) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      continue; // not there (yet): it will be created owner-only
    }
    if ((mode & 0o077) !== 0) shared.push({ path, mode: `0${mode.toString(8)}` });
  }
  return shared;
}

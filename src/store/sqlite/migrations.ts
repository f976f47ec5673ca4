/**
 * Numbered SQLite migrations; entry i brings the schema to `PRAGMA user_version = i + 1`.
 * Append only: never edit a migration that has shipped.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE resources (
     type TEXT NOT NULL,
     mesh TEXT NOT NULL,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     spec TEXT NOT NULL,
     creation_time TEXT NOT NULL,
     modification_time TEXT NOT NULL,
     PRIMARY KEY (type, mesh, name)
   ) WITHOUT ROWID;
   CREATE INDEX resources_by_mesh ON resources (mesh);`,
];

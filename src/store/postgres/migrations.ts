import type pg from 'pg';

/**
 * Numbered PostgreSQL migrations, applied by `skiff-cp migrate up`. The table follows Kuma's
 * Postgres schema (`resources` keyed by name, mesh and type) so operators find what they know.
 * Keys use the "C" collation: lists are ordered bytewise (as on SQLite and in memory) and the
 * (type, mesh, name) index serves that order, so a page never sorts the whole table.
 * Append only: never edit a migration that has shipped.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS resources (
     name text COLLATE "C" NOT NULL,
     mesh text COLLATE "C" NOT NULL,
     type text COLLATE "C" NOT NULL,
     version integer NOT NULL,
     spec text NOT NULL,
     creation_time timestamptz NOT NULL,
     modification_time timestamptz NOT NULL,
     owner_name text,
     owner_mesh text,
     owner_type text,
     labels jsonb NOT NULL DEFAULT '{}'::jsonb,
     PRIMARY KEY (name, mesh, type)
   );
   CREATE INDEX IF NOT EXISTS resources_type_mesh_name ON resources (type, mesh, name);`,
  // Several control planes on one database (the change feed, leader election, heartbeats): see
  // docs/architecture.md. The channel is per schema, so schemas sharing a database never cross. Every committed write of a resource a subscriber keeps state from is
  // announced on the channel by the writing transaction itself, so it travels at commit and never
  // without the commit; DataplaneInsight rows (status, written in bulk) are not announced.
  // `skiff.instance` names the writing control plane so it can skip its own announcements.
  `CREATE OR REPLACE FUNCTION skiff_notify_resource_change() RETURNS trigger AS $$
   DECLARE
     r record;
   BEGIN
     IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
     PERFORM pg_notify('skiff_resource_changes/' || TG_TABLE_SCHEMA, json_build_object(
       'action', CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
       'type', r.type, 'mesh', r.mesh, 'name', r.name,
       'instance', current_setting('skiff.instance', true))::text);
     RETURN NULL;
   END;
   $$ LANGUAGE plpgsql;
   -- WHEN keeps the function from even being called for insight rows (a flush writes thousands).
   CREATE TRIGGER resources_notify_write AFTER INSERT OR UPDATE ON resources
     FOR EACH ROW WHEN (NEW.type <> 'DataplaneInsight') EXECUTE FUNCTION skiff_notify_resource_change();
   CREATE TRIGGER resources_notify_delete AFTER DELETE ON resources
     FOR EACH ROW WHEN (OLD.type <> 'DataplaneInsight') EXECUTE FUNCTION skiff_notify_resource_change();
   CREATE TABLE IF NOT EXISTS control_plane_instances (
     id text COLLATE "C" PRIMARY KEY,
     address text NOT NULL,
     version text NOT NULL,
     start_time timestamptz NOT NULL,
     heartbeat_time timestamptz NOT NULL,
     leader boolean NOT NULL DEFAULT false,
     proxies integer NOT NULL DEFAULT 0
   );`,
  // Rollouts across instances (src/xds/rollout-exchange.ts): a write's notification names its
  // rollout (`skiff.rollout`, set by the writing statement), and each instance keeps its part of
  // every rollout, the proxies it serves, in rollout_parts for the others to read.
  `CREATE OR REPLACE FUNCTION skiff_notify_resource_change() RETURNS trigger AS $$
   DECLARE
     r record;
   BEGIN
     IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
     PERFORM pg_notify('skiff_resource_changes/' || TG_TABLE_SCHEMA, json_build_object(
       'action', CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
       'type', r.type, 'mesh', r.mesh, 'name', r.name,
       'instance', current_setting('skiff.instance', true),
       'rollout', NULLIF(current_setting('skiff.rollout', true), ''))::text);
     RETURN NULL;
   END;
   $$ LANGUAGE plpgsql;
   CREATE TABLE IF NOT EXISTS rollout_parts (
     id text COLLATE "C" NOT NULL,
     instance text COLLATE "C" NOT NULL,
     type text NOT NULL,
     mesh text NOT NULL,
     name text NOT NULL,
     operation text NOT NULL,
     start_time timestamptz NOT NULL,
     end_time timestamptz,
     dataplanes jsonb NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (id, instance)
   );`,
];

export const LATEST_POSTGRES_SCHEMA = POSTGRES_MIGRATIONS.length;

const ENSURE_TABLE = 'CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())';

/** Current schema version, 0 for an empty database. */
export async function schemaVersion(client: pg.Pool | pg.PoolClient): Promise<number> {
  const exists = await client.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (!exists.rows[0]?.present) return 0;
  const result = await client.query<{ version: string | null }>('SELECT max(version) AS version FROM schema_migrations');
  return Number(result.rows[0]?.version ?? 0);
}

/**
 * Applies every pending migration, each in its own transaction, under an advisory lock so two
 * control planes migrating at once do not race. Returns the versions applied.
 */
export async function migrateUp(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(5681001)');
    await client.query(ENSURE_TABLE);
    const current = await schemaVersion(client);
    for (const [index, sql] of POSTGRES_MIGRATIONS.entries()) {
      const version = index + 1;
      if (version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(5681001)').catch(() => {});
    client.release();
  }
  return applied;
}

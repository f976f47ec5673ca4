import type pg from 'pg';
import type { RolloutPart, RolloutPartStore } from '../cluster.js';

interface PartRow {
  id: string;
  instance: string;
  type: string;
  mesh: string;
  name: string;
  operation: RolloutPart['operation'];
  start_time: Date;
  end_time: Date | null;
  dataplanes: RolloutPart['dataplanes'];
}

/**
 * The instances' parts of rollouts, one row per (rollout, instance) in `rollout_parts` (migration 3).
 * A save is one statement for every changed part; an instance drops its own rows as it forgets
 * rollouts, and the leader those of instances gone for an hour (PostgresCluster's heartbeat).
 */
export class PostgresRolloutParts implements RolloutPartStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly instanceId: string,
  ) {}

  async save(changed: readonly RolloutPart[], forgotten: readonly string[]): Promise<void> {
    if (changed.length > 0) {
      const records = changed.map((p) => ({ id: p.id, type: p.resource.type, mesh: p.resource.mesh, name: p.resource.name, operation: p.operation, start_time: p.startTime, end_time: p.endTime, dataplanes: p.dataplanes }));
      await this.pool.query(
        `INSERT INTO rollout_parts (id, instance, type, mesh, name, operation, start_time, end_time, dataplanes, updated_at)
         SELECT p.id, $1, p.type, p.mesh, p.name, p.operation, p.start_time, p.end_time, p.dataplanes, now()
         FROM jsonb_to_recordset($2::jsonb) AS p(id text, type text, mesh text, name text, operation text, start_time timestamptz, end_time timestamptz, dataplanes jsonb)
         ON CONFLICT (id, instance) DO UPDATE SET end_time = EXCLUDED.end_time, dataplanes = EXCLUDED.dataplanes, updated_at = now()`,
        [this.instanceId, JSON.stringify(records)],
      );
    }
    if (forgotten.length > 0) await this.pool.query('DELETE FROM rollout_parts WHERE instance = $1 AND id = ANY($2::text[])', [this.instanceId, forgotten]);
  }

  async others(ids: readonly string[]): Promise<RolloutPart[]> {
    if (ids.length === 0) return [];
    const rows = (await this.pool.query<PartRow>('SELECT * FROM rollout_parts WHERE id = ANY($1::text[]) AND instance <> $2', [ids, this.instanceId])).rows;
    return rows.map((r) => ({
      id: r.id,
      instance: r.instance,
      resource: { type: r.type, mesh: r.mesh, name: r.name },
      operation: r.operation,
      startTime: r.start_time.toISOString(),
      endTime: r.end_time ? r.end_time.toISOString() : null,
      dataplanes: r.dataplanes,
    }));
  }
}

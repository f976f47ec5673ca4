import type { Resource, ResourceKey, ResourceTypeName, StoredResource } from '../core/model.js';

export interface ListOptions {
  /** Only this mesh (mesh-scoped types); all meshes when absent. */
  mesh?: string;
  /** Only names containing this substring (Kuma's `name` filter). */
  nameContains?: string;
  /** Rows to skip, after filtering. Default 0. */
  offset?: number;
  /** Rows to return at most. Default: all. */
  size?: number;
  /**
   * Extra filter applied before paging (e.g. dataplane tags). Backends evaluate it in process, so it
   * costs a scan of the type/mesh; keep it for filters SQL cannot express.
   */
  predicate?: (resource: StoredResource) => boolean;
}

export interface ListResult {
  /** Number of matching resources before paging. */
  total: number;
  /** The requested page, ordered by (mesh, name). */
  items: StoredResource[];
}

/** A committed write of one resource. Delivered after the write is durable, in commit order per process. */
export interface ResourceChangeEvent extends ResourceKey {
  action: 'create' | 'update' | 'delete';
  /** The write's rollout (`WriteOptions.rollout`), on this instance and on every other one sharing the store. */
  rollout?: string;
}

/** What a write carries beyond the resource. */
export interface WriteOptions {
  /** Tags the write's change event with this rollout id (src/xds/rollouts.ts), for every instance. */
  rollout?: string;
}

/**
 * The store may have committed changes it could not tell of (its connection was lost while a
 * write was in flight, and is back): every subscriber re-reads what it keeps from the store.
 */
export interface ResyncEvent {
  action: 'resync';
}

export type ChangeEvent = ResourceChangeEvent | ResyncEvent;

export type ChangeListener = (event: ChangeEvent) => void;

/** One write of a `writeMany` batch: what `create` or `update` would do. */
export type WriteOp = { op: 'create'; resource: Resource } | { op: 'update'; resource: Resource; expectedVersion: number };

/**
 * The one storage contract every backend (memory, SQLite, Postgres) implements and the conformance
 * suite in test/store checks.
 *
 * - Keys are unique per (type, mesh, name); global types use mesh ''.
 * - `create` of a mesh-scoped resource fails with InvalidError (field `mesh`) if its Mesh does not exist.
 * - `update` names the version it read; a stale version is a ConflictError, a missing resource NotFoundError.
 * - Deleting a Mesh deletes every resource of that mesh in the same transaction.
 * - Returned objects are owned by the caller and may be shared; do not mutate them.
 * - Methods may be called concurrently; each write is atomic.
 */
export interface ResourceStore {
  get(key: ResourceKey): Promise<StoredResource | undefined>;
  list(type: ResourceTypeName, options?: ListOptions): Promise<ListResult>;
  create(resource: Resource, options?: WriteOptions): Promise<StoredResource>;
  update(resource: Resource, expectedVersion: number, options?: WriteOptions): Promise<StoredResource>;
  /** The rollout tags the event of `key` only, not those of a deleted Mesh's contents. */
  delete(key: ResourceKey, options?: WriteOptions): Promise<void>;
  /**
   * Applies many writes in order, each succeeding or failing on its own exactly as `create` or
   * `update` would (the failure is returned in its slot, not thrown), in as few commits as the
   * backend allows: one transaction, so one fsync, for SQLite and Postgres. Change events follow
   * the commit. For bulk status writes (DataplaneInsights of thousands of proxies).
   */
  writeMany(ops: readonly WriteOp[]): Promise<Array<StoredResource | Error>>;
  /** Subscribes to committed changes; returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
  /** Resolves when the backend can serve requests (used by `/ready`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Messages shared by the backends so every one reports the same words. */
export const storeMessages = {
  notFound: (k: ResourceKey) => `${k.type} "${k.name}"${k.mesh ? ` in mesh "${k.mesh}"` : ''} not found`,
  exists: (k: ResourceKey) => `${k.type} "${k.name}"${k.mesh ? ` in mesh "${k.mesh}"` : ''} already exists`,
  conflict: (k: ResourceKey) => `${k.type} "${k.name}" was changed by another request; read it again and retry`,
  meshMissing: (mesh: string) => `mesh of name "${mesh}" is not found`,
};

export const nowIso = (): string => new Date().toISOString();

import { AlreadyExistsError, ConflictError, NotFoundError } from '../../core/errors.js';
import type { Resource, ResourceKey, ResourceTypeName, StoredResource } from '../../core/model.js';
import { ChangeNotifier, changeOf, meshMissingError, pageInMemory } from '../common.js';
import { nowIso, storeMessages, type ChangeListener, type ListOptions, type ListResult, type ResourceStore, type WriteOp, type WriteOptions } from '../store.js';

const keyOf = (mesh: string, name: string) => `${mesh}\u0000${name}`;

/** In-process store for tests and demos: everything is lost when the process exits. */
export class MemoryStore implements ResourceStore {
  private readonly byType = new Map<ResourceTypeName, Map<string, StoredResource>>();
  private readonly notifier = new ChangeNotifier();

  private table(type: ResourceTypeName): Map<string, StoredResource> {
    let table = this.byType.get(type);
    if (!table) this.byType.set(type, (table = new Map()));
    return table;
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.table(key.type).get(keyOf(key.mesh, key.name));
  }

  async list(type: ResourceTypeName, options: ListOptions = {}): Promise<ListResult> {
    return pageInMemory(this.table(type).values(), options);
  }

  async create(resource: Resource, options: WriteOptions = {}): Promise<StoredResource> {
    const table = this.table(resource.type);
    const k = keyOf(resource.mesh, resource.name);
    if (table.has(k)) throw new AlreadyExistsError(storeMessages.exists(resource));
    if (resource.mesh !== '' && !this.table('Mesh').has(keyOf('', resource.mesh))) throw meshMissingError(resource.mesh);
    const now = nowIso();
    const stored: StoredResource = { ...resource, spec: structuredClone(resource.spec), version: 1, creationTime: now, modificationTime: now };
    table.set(k, stored);
    this.notifier.emit(changeOf('create', resource, options));
    return stored;
  }

  async update(resource: Resource, expectedVersion: number, options: WriteOptions = {}): Promise<StoredResource> {
    const table = this.table(resource.type);
    const k = keyOf(resource.mesh, resource.name);
    const current = table.get(k);
    if (!current) throw new NotFoundError(storeMessages.notFound(resource));
    if (current.version !== expectedVersion) throw new ConflictError(storeMessages.conflict(resource));
    const stored: StoredResource = {
      ...current,
      spec: structuredClone(resource.spec),
      version: current.version + 1,
      modificationTime: nowIso(),
    };
    table.set(k, stored);
    this.notifier.emit(changeOf('update', resource, options));
    return stored;
  }

  async writeMany(ops: readonly WriteOp[]): Promise<Array<StoredResource | Error>> {
    const results: Array<StoredResource | Error> = [];
    for (const op of ops) {
      try {
        results.push(op.op === 'create' ? await this.create(op.resource) : await this.update(op.resource, op.expectedVersion));
      } catch (err) {
        results.push(err as Error);
      }
    }
    return results;
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<void> {
    if (!this.table(key.type).delete(keyOf(key.mesh, key.name))) throw new NotFoundError(storeMessages.notFound(key));
    const removed: ResourceKey[] = [];
    if (key.type === 'Mesh') {
      for (const [type, table] of this.byType) {
        for (const [k, r] of table) {
          if (r.mesh === key.name) {
            table.delete(k);
            removed.push({ type, mesh: r.mesh, name: r.name });
          }
        }
      }
    }
    this.notifier.emit(changeOf('delete', key, options));
    for (const r of removed) this.notifier.emit({ action: 'delete', ...r });
  }

  subscribe(listener: ChangeListener): () => void {
    return this.notifier.subscribe(listener);
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

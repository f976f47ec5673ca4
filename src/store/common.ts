import { InvalidError } from '../core/errors.js';
import type { ResourceKey, StoredResource } from '../core/model.js';
import { storeMessages, type ChangeEvent, type ChangeListener, type ListOptions, type ListResult, type ResourceChangeEvent, type WriteOptions } from './store.js';

/** The change event of one write. */
export function changeOf(action: ResourceChangeEvent['action'], key: ResourceKey, options: WriteOptions): ResourceChangeEvent {
  return { action, type: key.type, mesh: key.mesh, name: key.name, ...(options.rollout ? { rollout: options.rollout } : {}) };
}

/** Fan-out of committed changes; a throwing listener is isolated from the others and from the writer. */
export class ChangeNotifier {
  private readonly listeners = new Set<ChangeListener>();
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** (mesh, name) order, the order every backend lists in. */
export function compareByMeshName(a: StoredResource, b: StoredResource): number {
  return a.mesh < b.mesh ? -1 : a.mesh > b.mesh ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Filters, orders and pages resources already in memory. */
export function pageInMemory(all: Iterable<StoredResource>, options: ListOptions): ListResult {
  const { mesh, nameContains, predicate } = options;
  const matching: StoredResource[] = [];
  for (const r of all) {
    if (mesh !== undefined && r.mesh !== mesh) continue;
    if (nameContains && !r.name.includes(nameContains)) continue;
    if (predicate && !predicate(r)) continue;
    matching.push(r);
  }
  matching.sort(compareByMeshName);
  const offset = options.offset ?? 0;
  const end = options.size === undefined ? undefined : offset + options.size;
  return { total: matching.length, items: matching.slice(offset, end) };
}

export function meshMissingError(mesh: string): InvalidError {
  return new InvalidError(storeMessages.meshMissing(mesh), [{ field: 'mesh', message: storeMessages.meshMissing(mesh) }]);
}

import type { Histogram } from 'prom-client';
import { InvalidError } from '../core/errors.js';
import type { Resource, ResourceKey, ResourceTypeName, StoredResource } from '../core/model.js';
import { descriptorOf, isResourceTypeName } from '../core/registry.js';
import type { ChangeListener, ListOptions, ListResult, ResourceStore, WriteOp, WriteOptions } from './store.js';

function fail(message: string): never {
  throw new InvalidError(message, [{ field: '', message }]);
}

function checkKey(key: ResourceKey): void {
  if (!isResourceTypeName(key.type)) fail(`unknown resource type "${String(key.type)}"`);
  const scope = descriptorOf(key.type).scope;
  if (scope === 'mesh' && (typeof key.mesh !== 'string' || key.mesh === '')) fail(`${key.type} needs a mesh`);
  if (scope === 'global' && key.mesh !== '') fail(`${key.type} is global: mesh must be ''`);
  if (typeof key.name !== 'string' || key.name === '') fail('name cannot be empty');
}

function checkListOptions(type: ResourceTypeName, options: ListOptions): void {
  if (!isResourceTypeName(type)) fail(`unknown resource type "${String(type)}"`);
  const { offset, size } = options;
  if (offset !== undefined && (!Number.isInteger(offset) || offset < 0)) fail('offset must be a non-negative integer');
  if (size !== undefined && (!Number.isInteger(size) || size < 0)) fail('size must be a non-negative integer');
}

/**
 * Wraps a backend so that bad arguments (a programming error in a caller) fail the same way on
 * every backend, before any I/O, and so that each operation's latency is recorded.
 */
export class CheckedStore implements ResourceStore {
  constructor(
    private readonly inner: ResourceStore,
    private readonly latency?: Histogram<'operation' | 'type'>,
  ) {}

  private async timed<T>(operation: string, type: string, run: () => Promise<T>): Promise<T> {
    if (!this.latency) return run();
    const stop = this.latency.startTimer({ operation, type });
    try {
      return await run();
    } finally {
      stop();
    }
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    checkKey(key);
    return this.timed('get', key.type, () => this.inner.get(key));
  }

  async list(type: ResourceTypeName, options: ListOptions = {}): Promise<ListResult> {
    checkListOptions(type, options);
    return this.timed('list', type, () => this.inner.list(type, options));
  }

  async create(resource: Resource, options?: WriteOptions): Promise<StoredResource> {
    checkKey(resource);
    return this.timed('create', resource.type, () => this.inner.create(resource, options));
  }

  async update(resource: Resource, expectedVersion: number, options?: WriteOptions): Promise<StoredResource> {
    checkKey(resource);
    if (!Number.isInteger(expectedVersion) || expectedVersion < 1) fail('expected version must be a positive integer');
    return this.timed('update', resource.type, () => this.inner.update(resource, expectedVersion, options));
  }

  async writeMany(ops: readonly WriteOp[]): Promise<Array<StoredResource | Error>> {
    for (const op of ops) {
      checkKey(op.resource);
      if (op.op === 'update' && (!Number.isInteger(op.expectedVersion) || op.expectedVersion < 1)) fail('expected version must be a positive integer');
    }
    return this.timed('writeMany', ops[0]?.resource.type ?? '', () => this.inner.writeMany(ops));
  }

  async delete(key: ResourceKey, options?: WriteOptions): Promise<void> {
    checkKey(key);
    return this.timed('delete', key.type, () => this.inner.delete(key, options));
  }

  subscribe(listener: ChangeListener): () => void {
    return this.inner.subscribe(listener);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAlreadyExists, isNotFound } from '../../core/errors.js';
import { toApiObject, type ResourceKey, type StoredResource } from '../../core/model.js';
import { RESOURCE_TYPES, validateResource, type ResourceTypeDescriptor } from '../../core/registry.js';
import { normalizeDataplane } from '../../core/resources/dataplane.js';
import { isOnline } from '../../core/resources/insight.js';
import { matchesSelector } from '../../core/tags.js';
import { buildMeshSnapshot } from '../../core/mesh-snapshot.js';
import { matchedPolicies } from '../../core/matched-policies.js';
import type { ResourceStore } from '../../store/store.js';
import { createDefaultMeshPolicies } from '../../store/default-policies.js';
import { listMeshPolicies } from '../../store/mesh-policies.js';
import jsonPatch from 'fast-json-patch';
import { AUTHENTICATED, permission } from '../auth-hooks.js';
import { HttpError } from '../envelope.js';
import { nextPageUrl, readPage } from '../paging.js';

/** What the xDS server currently serves a dataplane; implemented by the xDS layer, injected by server.ts. */
export interface XdsInspector {
  /** The resources served to `{mesh}.{name}` with versions and per-stream ACK/NACK state, or undefined when no proxy is connected. */
  inspect(mesh: string, name: string): Record<string, unknown> | undefined;
}

/** Checks a resource needs beyond its own shape (e.g. a Mesh's provided CA exists and is a CA); causes or none. */
export type ResourceCheck = (resource: { type: string; mesh: string; name: string; spec: Record<string, unknown> }) => Promise<Array<{ field: string; message: string }>>;

/** Previews of configuration (src/xds/preview.ts), injected by server.ts. */
export interface ConfigPreviewer {
  /** The dataplanes a write would change, and how (`?dryRun=true`). */
  impact(change: { key: ResourceKey; spec: Record<string, unknown> | undefined }): Promise<unknown>;
  /** A dataplane's config by xDS type and name, as served and with the mesh's shadow policies; undefined when it does not exist. */
  shadowConfig(mesh: string, name: string): Promise<{ current: Record<string, Record<string, unknown>>; shadow: Record<string, Record<string, unknown>>; error?: string } | undefined>;
}

/**
 * Rollout tracking (src/xds/rollout-exchange.ts), injected by server.ts: a write names its rollout
 * to the store, and the store's change event starts it on every instance.
 */
export interface RolloutRegistry {
  get(id: string): Promise<unknown>;
  list(mesh?: string): Promise<unknown[]>;
}

export interface ResourceRoutesOptions {
  store: ResourceStore;
  preview?: ConfigPreviewer;
  rollouts?: RolloutRegistry;
  /** Extra checks before a write (injected by server.ts; the SDS module checks provided CAs). */
  check?: ResourceCheck;
  /** `apiServer.readOnly`: every write answers 405. */
  readOnly: boolean;
  inspector?: XdsInspector;
  /** Ids of the live control planes: a subscription held by another one does not make a proxy online. */
  liveInstances?: () => Promise<ReadonlySet<string>>;
}

type Params = { mesh?: string; name?: string };
type Query = Record<string, string | string[] | undefined>;

const notFound = (what: string) => new HttpError(404, 'Could not retrieve a resource', `${what} not found`);

function keyFor(descriptor: ResourceTypeDescriptor, params: Params): ResourceKey {
  return { type: descriptor.name, mesh: descriptor.scope === 'mesh' ? params.mesh! : '', name: params.name! };
}

/** `tag=key:value` filters (repeatable) on dataplanes, matched against any inbound's tags. */
function tagPredicate(query: Query): ((r: StoredResource) => boolean) | undefined {
  const raw = query.tag;
  if (raw === undefined) return undefined;
  const match: Record<string, string> = {};
  for (const item of Array.isArray(raw) ? raw : [raw]) {
    const colon = item.indexOf(':');
    if (colon <= 0) {
      throw new HttpError(400, 'Bad Request', 'invalid tag filter', [{ field: 'tag', message: 'must be in the form key:value' }]);
    }
    match[item.slice(0, colon)] = item.slice(colon + 1);
  }
  return (r) => normalizeDataplane(r.spec).inbound.some((inbound) => matchesSelector(match, inbound.tags));
}

function listFilters(descriptor: ResourceTypeDescriptor, query: Query) {
  const name = typeof query.name === 'string' && query.name !== '' ? query.name : undefined;
  const predicate = descriptor.name === 'Dataplane' ? tagPredicate(query) : undefined;
  return { nameContains: name, predicate };
}

function pageBody(request: FastifyRequest, items: unknown[], total: number, page: { size: number; offset: number }) {
  const path = request.url.split('?')[0]!;
  const next = nextPageUrl({ protocol: request.protocol, host: request.host, path, query: request.query as Query }, page, total);
  return { total, items, next };
}

/** The `DataplaneOverview` object of `dataplanes+insights`: the dataplane and what xDS recorded of it. */
async function overview(store: ResourceStore, dataplane: StoredResource, live: ReadonlySet<string> | undefined) {
  const insight = await store.get({ type: 'DataplaneInsight', mesh: dataplane.mesh, name: dataplane.name });
  return {
    type: 'DataplaneOverview',
    mesh: dataplane.mesh,
    name: dataplane.name,
    creationTime: dataplane.creationTime,
    modificationTime: dataplane.modificationTime,
    dataplane: dataplane.spec,
    dataplaneInsight: insight?.spec ?? { subscriptions: [] },
    // Derived, not stored: whether a live control plane holds an open xDS subscription of it.
    online: isOnline(insight?.spec, live),
  };
}

/**
 * CRUD routes for every resource type, generated from the type registry: Kuma's paths, 201 on
 * create, 200 on update and delete, `{total, items, next}` lists.
 */
export async function resourceRoutes(app: FastifyInstance, options: ResourceRoutesOptions): Promise<void> {
  const { store } = options;

  const dataplane = RESOURCE_TYPES.find((d) => d.name === 'Dataplane')!;
  const rejectIfReadOnly = async () => {
    if (options.readOnly) throw new HttpError(405, 'Method Not Allowed', 'the API server is read-only (apiServer.readOnly)');
  };

  for (const descriptor of RESOURCE_TYPES) {
    if (descriptor.systemOwned) continue;
    const collection = descriptor.scope === 'mesh' ? `/meshes/:mesh/${descriptor.plural}` : `/${descriptor.plural}`;
    const item = `${collection}/:name`;
    // Secrets are admin resources even to read; other resources need an authenticated reader.
    const read = { config: { access: descriptor.sensitive ? permission('adminResources') : AUTHENTICATED } };
    const write = { config: { access: permission('adminResources') }, preHandler: rejectIfReadOnly };

    const list = async (request: FastifyRequest<{ Params: Params; Querystring: Query }>) => {
      const page = readPage(request.query);
      const result = await store.list(descriptor.name, { mesh: request.params.mesh, ...listFilters(descriptor, request.query), ...page });
      return pageBody(request, result.items.map((r) => toApiObject(r, descriptor.scope)), result.total, page);
    };
    app.get(collection, read, list);
    // Kuma also lists a mesh-scoped type across every mesh at `/{plural}`.
    if (descriptor.scope === 'mesh') app.get(`/${descriptor.plural}`, read, list);

    app.get<{ Params: Params }>(item, read, async (request) => {
      const found = await store.get(keyFor(descriptor, request.params));
      if (!found) throw notFound(`${descriptor.name} "${request.params.name}"`);
      return toApiObject(found, descriptor.scope);
    });

    app.put<{ Params: Params; Body: unknown; Querystring: Query }>(item, write, async (request, reply: FastifyReply) => {
      const key = keyFor(descriptor, request.params);
      const result = validateResource(descriptor, { mesh: key.mesh, name: key.name }, request.body);
      if (!result.ok) throw new HttpError(400, 'Could not process a resource', 'Resource is not valid', result.causes);
      const problems = options.check ? await options.check(result.resource) : [];
      if (problems.length > 0) throw new HttpError(400, 'Could not process a resource', 'Resource is not valid', problems);
      const existing = await store.get(key);
      // `?dryRun=true` (skiffctl apply --dry-run): every check a write makes, nothing stored, and
      // the dataplanes whose configuration it would change.
      if (request.query.dryRun === 'true') {
        if (key.mesh && !(await store.get({ type: 'Mesh', mesh: '', name: key.mesh }))) {
          throw new HttpError(400, 'Could not process a resource', 'Resource is not valid', [{ field: 'mesh', message: `mesh of name "${key.mesh}" is not found` }]);
        }
        const impact = options.preview ? await options.preview.impact({ key, spec: result.resource.spec }) : undefined;
        return reply.code(200).send({ dryRun: true, operation: existing ? 'update' : 'create', ...(impact ? { impact } : {}) });
      }
      const rollout = options.rollouts ? randomUUID() : undefined;
      if (existing) {
        // An update that stores the very same spec changes nothing: no rollout.
        const tag = JSON.stringify(existing.spec) !== JSON.stringify(result.resource.spec) ? rollout : undefined;
        try {
          await store.update(result.resource, existing.version, { rollout: tag });
          if (tag) reply.header('x-skiff-rollout', tag);
          return reply.code(200).send({});
        } catch (err) {
          if (!isNotFound(err)) throw err; // deleted since we read it: create it below
        }
      }
      try {
        await store.create(result.resource, { rollout });
      } catch (err) {
        if (isAlreadyExists(err)) throw new HttpError(409, 'Conflict', `${descriptor.name} "${key.name}" was created by a concurrent request; retry`);
        throw err;
      }
      // As Kuma's mesh manager: a new Mesh gets its default policies with the request that creates it.
      if (descriptor.name === 'Mesh') {
        const defaults = await createDefaultMeshPolicies(store, result.resource);
        if (defaults.length > 0) request.log.info({ mesh: key.name, policies: defaults }, 'created the default policies of the mesh');
      }
      if (rollout) reply.header('x-skiff-rollout', rollout);
      return reply.code(201).send({});
    });

    app.delete<{ Params: Params; Querystring: Query }>(item, write, async (request, reply) => {
      const key = keyFor(descriptor, request.params);
      if (request.query.dryRun === 'true') {
        if (!(await store.get(key))) throw new HttpError(404, 'Could not delete a resource', `${descriptor.name} "${request.params.name}" not found`);
        const impact = options.preview ? await options.preview.impact({ key, spec: undefined }) : undefined;
        return { dryRun: true, operation: 'delete', ...(impact ? { impact } : {}) };
      }
      const rollout = options.rollouts ? randomUUID() : undefined;
      try {
        await store.delete(key, { rollout });
      } catch (err) {
        if (isNotFound(err)) throw new HttpError(404, 'Could not delete a resource', `${descriptor.name} "${request.params.name}" not found`);
        throw err;
      }
      if (rollout) reply.header('x-skiff-rollout', rollout);
      return {};
    });
  }

  app.get<{ Params: Params }>('/meshes/:mesh/dataplanes/:name/xds', { config: { access: AUTHENTICATED } }, async (request) => {
    const found = await store.get(keyFor(dataplane, request.params));
    if (!found) throw notFound(`Dataplane "${request.params.name}"`);
    const served = options.inspector?.inspect(found.mesh, found.name);
    return served ? { connected: true, ...served } : { connected: false, resources: {}, streams: [] };
  });

  // Rollouts: where the writes this instance has heard of have arrived, on every instance (bounded history, newest first).
  app.get<{ Querystring: Query }>('/rollouts', { config: { access: AUTHENTICATED } }, async (request) => {
    if (!options.rollouts) throw new HttpError(503, 'Unavailable', 'rollouts need the xDS server');
    const mesh = typeof request.query.mesh === 'string' ? request.query.mesh : undefined;
    const items = await options.rollouts.list(mesh);
    return { total: items.length, items };
  });
  app.get<{ Params: { id: string } }>('/rollouts/:id', { config: { access: AUTHENTICATED } }, async (request) => {
    const found = await options.rollouts?.get(request.params.id);
    if (!found) throw new HttpError(404, 'Could not retrieve a resource', `Rollout "${request.params.id}" not found`);
    return found;
  });

  // Kuma's inspect endpoint: the dataplane's configuration; with `shadow=true` as it would be with
  // the mesh's shadow policies (`kuma.io/effect: shadow`), and `include=diff` the JSON Patch from
  // today's to that one.
  app.get<{ Params: Params; Querystring: Query }>('/meshes/:mesh/dataplanes/:name/_config', { config: { access: AUTHENTICATED } }, async (request) => {
    const found = await store.get(keyFor(dataplane, request.params));
    if (!found) throw notFound(`Dataplane "${request.params.name}"`);
    if (!options.preview) throw new HttpError(503, 'Unavailable', 'configuration previews need the xDS server');
    const config = await options.preview.shadowConfig(found.mesh, found.name);
    if (!config) throw notFound(`Dataplane "${request.params.name}"`);
    const shadow = request.query.shadow === 'true';
    const include = String(request.query.include ?? '').split(',');
    const xds = shadow ? config.shadow : config.current;
    return { xds, ...(config.error && shadow ? { error: config.error } : {}), ...(include.includes('diff') ? { diff: shadow ? jsonPatch.compare(config.current, config.shadow) : [] } : {}) };
  });

  // The policies that shape a dataplane's configuration (as Kuma's `.../dataplanes/{name}/policies`).
  app.get<{ Params: Params }>('/meshes/:mesh/dataplanes/:name/policies', { config: { access: AUTHENTICATED } }, async (request) => {
    const found = await store.get(keyFor(dataplane, request.params));
    if (!found) throw notFound(`Dataplane "${request.params.name}"`);
    const mesh = await store.get({ type: 'Mesh', mesh: '', name: found.mesh });
    if (!mesh) throw notFound(`Mesh "${found.mesh}"`);
    const snapshot = buildMeshSnapshot(mesh, [found], undefined, await listMeshPolicies(store, found.mesh));
    const items = matchedPolicies(snapshot, snapshot.dataplanes.get(found.name)!);
    return { total: items.length, items };
  });

  // The reference's request lines spell it `dataplane+insights`, its examples `dataplanes+insights`: serve both.
  for (const plural of ['dataplanes+insights', 'dataplane+insights']) {
    app.get<{ Params: Params; Querystring: Query }>(`/meshes/:mesh/${plural}`, { config: { access: AUTHENTICATED } }, async (request) => {
      const page = readPage(request.query);
      const result = await store.list('Dataplane', { mesh: request.params.mesh, ...listFilters(dataplane, request.query), ...page });
      const live = await options.liveInstances?.();
      const items = await Promise.all(result.items.map((r) => overview(store, r, live)));
      return pageBody(request, items, result.total, page);
    });
    app.get<{ Params: Params }>(`/meshes/:mesh/${plural}/:name`, { config: { access: AUTHENTICATED } }, async (request) => {
      const found = await store.get(keyFor(dataplane, request.params));
      if (!found) throw notFound(`Dataplane "${request.params.name}"`);
      return overview(store, found, await options.liveInstances?.());
    });
  }
}

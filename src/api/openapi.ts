import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { PUBLIC, type AccessRule } from './auth-hooks.js';

/**
 * The OpenAPI 3 description of the REST API, generated from the routes as they are registered
 * (so a route cannot exist without being described) and served at `GET /openapi.json`. Routes
 * carry no fastify schemas, on purpose: validation and errors are ours (Kuma's envelope with field
 * causes), so the document is built beside them, from each route's URL, method and access rule.
 * `docs/openapi.yaml` is this document committed; a test fails when it is stale.
 */

const ENVELOPE_SCHEMA = {
  $id: 'KumaError',
  description: "Kuma's error envelope: the legacy (`details`, `causes`) and current (`detail`, `invalid_parameters`) fields",
  type: 'object',
  properties: {
    type: { type: 'string' },
    status: { type: 'integer' },
    title: { type: 'string' },
    detail: { type: 'string' },
    details: { type: 'string' },
    invalid_parameters: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, reason: { type: 'string' } } } },
    causes: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
};

const LIST_QUERY = {
  size: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'page size' },
  offset: { type: 'integer', minimum: 0, description: 'where the page starts (the `next` link carries it)' },
  name: { type: 'string', description: 'only names containing this' },
};

function accessText(rule: AccessRule | undefined): string {
  if (!rule || rule.kind === 'authenticated') return 'any authenticated user';
  if (rule.kind === 'public') return 'no authentication';
  return `the \`${rule.permission}\` permission (access.static.${rule.permission})`;
}

const envelope = { $ref: 'KumaError#' };

/** The document entry of one route, as a fastify schema @fastify/swagger turns into OpenAPI: parameters from the URL, the body and the answers by method. */
function describe(route: RouteOptions, url: string) {
  const method = String(route.method).toUpperCase();
  const access = (route.config as { access?: AccessRule } | undefined)?.access;
  const names = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const isCollection = method === 'GET' && !url.includes(':name') && /(s|\+insights)$/.test(url);
  const query = { ...(isCollection ? LIST_QUERY : {}), ...(method === 'PUT' || method === 'DELETE' ? { dryRun: { type: 'boolean', description: 'run every check of the write, store nothing, and answer with the dataplanes whose configuration it would change' } } : {}) };
  const top = url.split('/')[1] ?? '';
  return {
    tags: [top === 'meshes' ? (url.split('/')[3] ?? 'meshes') : top || 'system'],
    summary: `${method} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`,
    description: `Requires ${accessText(access)}.`,
    ...(names.length ? { params: { type: 'object', properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])), required: names } } : {}),
    ...(Object.keys(query).length ? { querystring: { type: 'object', properties: query } } : {}),
    ...(method === 'PUT' || method === 'POST' ? { body: { type: 'object', description: 'JSON or YAML' } } : {}),
    response: {
      ...(method === 'PUT' ? { 200: { description: 'updated', type: 'object' }, 201: { description: 'created', type: 'object' } } : { 200: { description: 'OK' } }),
      400: envelope,
      ...(access === PUBLIC ? {} : { 401: envelope, 403: envelope }),
      404: envelope,
      ...(method === 'PUT' ? { 409: envelope } : {}),
      503: envelope,
    },
  };
}

/** Registers the generator; call before any route is added, then `openApiRoute` once they all are. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  app.addSchema(ENVELOPE_SCHEMA);
  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Skiff REST API', description: "Kuma's REST API as Skiff serves it (Kuma's paths, resource formats and error envelope).", version },
      servers: [{ url: 'http://localhost:5681' }, { url: 'https://localhost:5682' }],
      components: { securitySchemes: { userToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ userToken: [] }],
    },
    hideUntagged: false,
    transform: ({ route, url }) => {
      // The GUI's files and HEAD twins of GET routes are not API operations.
      const hidden = String(route.method).toUpperCase() === 'HEAD' || url.includes('*') || url === '/gui' || url.startsWith('/gui/');
      return { schema: hidden ? { hide: true } : (describe(route, url) as never), url };
    },
  });
}

export function openApiRoute(scope: FastifyInstance, root: FastifyInstance): void {
  scope.get('/openapi.json', { config: { access: PUBLIC } }, async () => root.swagger());
}

import type { FastifyInstance } from 'fastify';
import { IssuerDisabledError, type UserTokens } from '../../auth/user-tokens.js';
import type { DataplaneTokens } from '../../auth/dataplane-tokens.js';
import type { ResourceStore } from '../../store/store.js';
import { parseDuration } from '../../core/duration.js';
import { Causes, isObject } from '../../core/validate.js';
import { PUBLIC, permission } from '../auth-hooks.js';
import { HttpError } from '../envelope.js';

/**
 * Reads and checks a dataplane-token request (`{name, mesh, tags, type, validFor}`); shared by
 * `POST /tokens/dataplane` and the legacy token server on 5679.
 */
export async function dataplaneTokenFromBody(body: unknown, store: ResourceStore, tokens: DataplaneTokens): Promise<string> {
  const causes = new Causes();
  if (!isObject(body)) throw new HttpError(400, 'Bad Request', 'body must be a JSON object', [{ field: '', message: 'must be an object' }]);
  if (typeof body.mesh !== 'string' || body.mesh === '') causes.add('mesh', 'cannot be empty');
  if (body.name !== undefined && (typeof body.name !== 'string' || body.name === '')) causes.add('name', 'must be a non-empty string');
  if (body.type !== undefined && body.type !== 'dataplane') causes.add('type', 'must be "dataplane"');
  const tags = body.tags ?? {};
  if (!isObject(tags) || Object.values(tags).some((v) => !Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || x === ''))) {
    causes.add('tags', 'must map each tag to a non-empty list of values, e.g. {"kuma.io/service": ["web"]}');
  }
  let validForMs = 0;
  if (body.validFor !== undefined && body.validFor !== '') {
    const ms = typeof body.validFor === 'string' ? parseDuration(body.validFor) : undefined;
    if (ms === undefined || ms < 1000) causes.add('validFor', 'must be a duration of at least 1s, such as "24h"');
    else validForMs = ms;
  }
  if (!causes.empty) throw new HttpError(400, 'Could not issue a token', 'Invalid request', causes.list);
  if (!(await store.get({ type: 'Mesh', mesh: '', name: body.mesh as string }))) {
    throw new HttpError(400, 'Could not issue a token', 'Invalid request', [{ field: 'mesh', message: `mesh of name "${String(body.mesh)}" is not found` }]);
  }
  return tokens.issue(
    { name: body.name as string | undefined, mesh: body.mesh as string, tags: tags as Record<string, string[]>, type: 'dataplane' },
    Math.floor(validForMs / 1000),
  );
}

/** `POST /tokens/user` and `POST /tokens/dataplane` (answering the JWT as text) and `GET /who-am-i`. */
export async function tokenRoutes(app: FastifyInstance, options: { tokens: UserTokens; maxValidFor: string; store: ResourceStore; dataplaneTokens: DataplaneTokens }): Promise<void> {
  app.post<{ Body: unknown }>('/tokens/dataplane', { config: { access: permission('generateDpToken') } }, async (request, reply) =>
    reply.type('text/plain').send(await dataplaneTokenFromBody(request.body, options.store, options.dataplaneTokens)),
  );

  const maxMs = options.maxValidFor ? parseDuration(options.maxValidFor) : undefined;
  app.get('/who-am-i', { config: { access: PUBLIC } }, async (request) => ({ name: request.user.name, groups: request.user.groups }));

  app.post<{ Body: unknown }>('/tokens/user', { config: { access: permission('generateUserToken') } }, async (request, reply) => {
    const body = request.body;
    const causes = new Causes();
    if (!isObject(body)) throw new HttpError(400, 'Bad Request', 'body must be a JSON object', [{ field: '', message: 'must be an object' }]);
    if (typeof body.name !== 'string' || body.name.trim() === '') causes.add('name', 'cannot be empty');
    const groups = body.groups ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || g === '')) causes.add('groups', 'must be a list of non-empty strings');
    const validForMs = typeof body.validFor === 'string' ? parseDuration(body.validFor) : undefined;
    if (body.validFor === undefined || body.validFor === '') causes.add('validFor', 'cannot be empty');
    else if (validForMs === undefined || validForMs < 1000) causes.add('validFor', 'must be a duration of at least 1s, such as "24h" or "30m"');
    else if (maxMs !== undefined && validForMs > maxMs) causes.add('validFor', `must be at most ${options.maxValidFor} (apiServer.authn.tokens.maxValidFor)`);
    if (!causes.empty) throw new HttpError(400, 'Could not issue a token', 'Invalid request', causes.list);
    try {
      const token = await options.tokens.issue(body.name as string, groups as string[], Math.floor(validForMs! / 1000));
      return reply.type('text/plain').send(token);
    } catch (err) {
      if (err instanceof IssuerDisabledError) throw new HttpError(400, 'Could not issue a token', err.message);
      throw err;
    }
  });
}

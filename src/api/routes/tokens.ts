import type { FastifyInstance } from 'fastify';
import { IssuerDisabledError, type UserTokens } from '../../auth/user-tokens.js';
import { parseDuration } from '../../core/duration.js';
import { Causes, isObject } from '../../core/validate.js';
import { PUBLIC, permission } from '../auth-hooks.js';
import { HttpError } from '../envelope.js';

/** `POST /tokens/user` (Kuma's shape: name, groups, validFor; answers the JWT as text) and `GET /who-am-i`. */
export async function tokenRoutes(app: FastifyInstance, options: { tokens: UserTokens; maxValidFor: string }): Promise<void> {
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

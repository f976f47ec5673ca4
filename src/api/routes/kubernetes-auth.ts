import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KubernetesAuth } from '../../auth/kubernetes/kubernetes-auth.js';
import { publicConfig, roleView } from '../../auth/kubernetes/params.js';
import { LoginRefused } from '../../auth/kubernetes/service-accounts.js';
import { PUBLIC, permission } from '../auth-hooks.js';
import { HttpError } from '../envelope.js';
import { parseJsonUnderContentTypes } from '../json-body.js';

/**
 * Vault's Kubernetes auth method API (`/auth/kubernetes/…`, and the same under `/v1` for Vault
 * clients): configuration and roles for admins, `login` open to all (it is the authentication).
 * Answers use Vault's response wrapper; errors are Kuma's envelope plus Vault's `errors` list.
 */

const ADMIN = { access: permission('adminResources') };

/** Vault's response wrapper. */
function vault(data: Record<string, unknown> | null, extra: { warnings?: string[]; auth?: Record<string, unknown> } = {}) {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: extra.warnings?.length ? extra.warnings : null,
    auth: extra.auth ?? null,
  };
}

function roleNameOf(raw: string): string {
  const checked = KubernetesAuth.roleName(raw);
  if (!checked.ok) throw new HttpError(400, 'Bad Request', `invalid role name "${raw}"`, [{ field: 'name', message: checked.message }]);
  return checked.name;
}

async function routes(app: FastifyInstance, options: { auth: KubernetesAuth }): Promise<void> {
  const { auth } = options;

  // Vault's samples send JSON with curl's default form content type (`--data @payload.json`).
  parseJsonUnderContentTypes(app, 'application/x-www-form-urlencoded');

  // Vault clients read `errors: [...]`; Kuma clients the envelope. 4xx bodies carry both.
  app.addHook('onSend', async (_request, reply: FastifyReply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
    try {
      const body = JSON.parse(payload) as { details?: string; causes?: Array<{ field: string; message: string }> };
      if (typeof body.details !== 'string') return payload;
      const errors = [body.details, ...(body.causes ?? []).map((c) => (c.field ? `${c.field}: ${c.message}` : c.message))];
      return JSON.stringify({ ...body, errors });
    } catch {
      return payload;
    }
  });

  const writeConfig = async (request: { body: unknown }, reply: FastifyReply) => {
    await auth.writeConfig(request.body);
    return reply.code(204).send();
  };
  app.post('/auth/kubernetes/config', { config: ADMIN }, writeConfig);
  app.put('/auth/kubernetes/config', { config: ADMIN }, writeConfig);
  app.get('/auth/kubernetes/config', { config: ADMIN }, async () => {
    const config = await auth.readConfig();
    if (!config) throw new HttpError(404, 'Not Found', 'the Kubernetes auth method is not configured');
    return vault(publicConfig(config));
  });

  const writeRole = async (request: { params: { name: string }; body: unknown }, reply: FastifyReply) => {
    const warnings = await auth.writeRole(roleNameOf(request.params.name), request.body);
    return warnings.length ? reply.code(200).send(vault(null, { warnings })) : reply.code(204).send();
  };
  app.post<{ Params: { name: string } }>('/auth/kubernetes/role/:name', { config: ADMIN }, writeRole);
  app.put<{ Params: { name: string } }>('/auth/kubernetes/role/:name', { config: ADMIN }, writeRole);
  app.get<{ Params: { name: string } }>('/auth/kubernetes/role/:name', { config: ADMIN }, async (request) => {
    const role = await auth.readRole(roleNameOf(request.params.name));
    if (!role) throw new HttpError(404, 'Not Found', `role "${request.params.name}" not found`);
    return vault(roleView(role));
  });
  app.delete<{ Params: { name: string } }>('/auth/kubernetes/role/:name', { config: ADMIN }, async (request, reply) => {
    await auth.deleteRole(roleNameOf(request.params.name));
    return reply.code(204).send();
  });
  // `LIST /auth/kubernetes/role` arrives here as `?list=true` (see list-method.ts).
  app.get<{ Querystring: { list?: string } }>('/auth/kubernetes/role', { config: ADMIN }, async (request) => {
    if (request.query.list !== 'true') throw new HttpError(405, 'Method Not Allowed', 'list roles with LIST /auth/kubernetes/role or GET /auth/kubernetes/role?list=true');
    const keys = (await auth.listRoles()).sort();
    if (keys.length === 0) throw new HttpError(404, 'Not Found', 'no roles');
    return vault({ keys });
  });

  app.post<{ Body: unknown }>('/auth/kubernetes/login', { config: { access: PUBLIC } }, async (request) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'Bad Request', 'body must be a JSON object {"role": ..., "jwt": ...}');
    try {
      const result = await auth.login(body.role, body.jwt, request.socket.remoteAddress);
      request.log.info({ role: result.metadata.role, serviceAccount: `${result.metadata.service_account_namespace}/${result.metadata.service_account_name}`, accessor: result.accessor }, 'kubernetes auth login');
      return vault(null, {
        auth: {
          client_token: result.clientToken,
          accessor: result.accessor,
          policies: result.policies,
          token_policies: result.tokenPolicies,
          metadata: result.metadata,
          lease_duration: result.leaseDuration,
          // A dataplane token is a JWT: it cannot be renewed, the workload logs in again.
          renewable: false,
          entity_id: '',
          token_type: result.tokenType,
          orphan: true,
          num_uses: 0,
          alias_name: result.aliasName,
        },
      });
    } catch (err) {
      if (err instanceof LoginRefused) {
        request.log.info({ role: typeof body.role === 'string' ? body.role : undefined, reason: err.message }, 'kubernetes auth login refused');
        throw new HttpError(err.status, err.status === 400 ? 'Bad Request' : 'Access Denied', err.message);
      }
      throw err;
    }
  });
}

/** Registers the API at `/auth/kubernetes` and, for Vault clients, `/v1/auth/kubernetes`. */
export async function kubernetesAuthRoutes(app: FastifyInstance, options: { auth: KubernetesAuth }): Promise<void> {
  await app.register(routes, options);
  await app.register(routes, { ...options, prefix: '/v1' });
}

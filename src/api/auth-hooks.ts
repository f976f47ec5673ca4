import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AdminClientCerts } from '../auth/client-certs.js';
import { isAllowed, type Permission } from '../auth/access.js';
import { InvalidTokenError, MAX_TOKEN_BYTES } from '../auth/jwt.js';
import { isLocalCaller } from '../auth/localhost.js';
import { ADMIN_USER, ANONYMOUS_USER, UNAUTHENTICATED, type User, type UserTokens } from '../auth/user-tokens.js';
import type { Config } from '../config/schema.js';
import { HttpError } from './envelope.js';

/** What a route needs from its caller; routes declare it in `config.access` (default: authenticated). */
export type AccessRule = { kind: 'public' } | { kind: 'authenticated' } | { kind: 'permission'; permission: Permission };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
  }
  interface FastifyRequest {
    user: User;
  }
}

export const PUBLIC: AccessRule = { kind: 'public' };
export const AUTHENTICATED: AccessRule = { kind: 'authenticated' };
export const permission = (name: Permission): AccessRule => ({ kind: 'permission', permission: name });

const unauthenticated = (reason: string) => new HttpError(401, 'Unauthenticated', reason);

/**
 * RFC 9112 §3.2: a request with more than one Host header is a 400. Node keeps only the first,
 * so a "localhost" first and an attacker's host second would be read as local.
 */
function rejectAmbiguousHost(request: FastifyRequest): void {
  const raw = request.raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) throw new HttpError(400, 'Bad Request', 'the request has more than one Host header');
}

/**
 * Authenticates every API request (a `Bearer` user token; else, if allowed, a real local caller is
 * admin; else anonymous) and enforces each route's access rule. A token that is present but
 * invalid is a 401 even from localhost: a caller who sends credentials means them.
 */
export function installAuth(app: FastifyInstance, config: Config, tokens: UserTokens, clientCerts?: AdminClientCerts): void {
  app.decorateRequest('user', null as unknown as User); // set for every request in onRequest below
  const authn = config.apiServer.authn;

  app.addHook('onRequest', async (request: FastifyRequest) => {
    rejectAmbiguousHost(request);
    const header = request.headers.authorization;
    if (authn.type === 'adminClientCerts') {
      // Over HTTPS a presented certificate decides: one of the configured ones is admin, any other is refused.
      const socket = request.socket as TLSSocket;
      const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      if (peer && Object.keys(peer).length > 0) {
        if (!clientCerts?.allows(peer.fingerprint256)) throw unauthenticated('client certificate is not one of the admin client certificates');
        request.user = ADMIN_USER;
        return;
      }
      if (header !== undefined) throw unauthenticated('user tokens are not accepted: apiServer.authn.type is adminClientCerts');
    } else if (header !== undefined) {
      if (header.length > MAX_TOKEN_BYTES + 16) throw unauthenticated('authorization header is too large');
      const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
      if (!match) throw unauthenticated('authorization header must be "Bearer <user token>"');
      try {
        request.user = await tokens.validate(match[1]!);
      } catch (err) {
        if (err instanceof InvalidTokenError) throw unauthenticated(`invalid user token: ${err.reason}`);
        throw err;
      }
      return;
    }
    request.user = authn.localhostIsAdmin && isLocalCaller({ remoteAddress: request.socket.remoteAddress, scheme: request.protocol, headers: request.headers }) ? ADMIN_USER : ANONYMOUS_USER;
  });

  app.addHook('preHandler', async (request: FastifyRequest) => {
    const rule = request.routeOptions.config?.access ?? AUTHENTICATED;
    if (rule.kind === 'public') return;
    const anonymous = request.user.groups.includes(UNAUTHENTICATED);
    // A permission may be granted to mesh-system:unauthenticated (viewConfigDump is, by default).
    if (rule.kind === 'permission' && isAllowed(config.access.static, request.user, rule.permission)) return;
    if (anonymous) {
      throw unauthenticated(
        config.apiServer.authn.type === 'adminClientCerts'
          ? 'this endpoint needs an admin client certificate (apiServer.authn.type is adminClientCerts): connect over HTTPS presenting one of the certificates in apiServer.auth.clientCertsDir'
          : 'this endpoint needs an authenticated user: send "Authorization: Bearer <user token>"',
      );
    }
    if (rule.kind === 'permission') {
      throw new HttpError(403, 'Access Denied', `user "${request.user.name}" does not have the "${rule.permission}" permission (access.static.${rule.permission})`);
    }
  });
}

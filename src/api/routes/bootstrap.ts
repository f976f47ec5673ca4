import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../auth-hooks.js';

/** Builds an Envoy bootstrap for a sidecar; throws the core error taxonomy (400/401/403/404). */
export interface BootstrapProvider {
  bootstrap(body: unknown, callerAddress?: string): Promise<{ yaml: string; sidecar: Record<string, unknown> }>;
}

/**
 * `POST /bootstrap`, as kuma-dp calls it. The dataplane token in the body is the credential, so the
 * route itself is public. `Accept: application/json` gets kuma-dp's `{bootstrap: base64(YAML),
 * kumaSidecarConfiguration}`; anything else the raw YAML.
 */
export async function bootstrapRoutes(app: FastifyInstance, options: { provider: BootstrapProvider }): Promise<void> {
  app.post<{ Body: unknown }>('/bootstrap', { config: { access: PUBLIC } }, async (request, reply) => {
    const result = await options.provider.bootstrap(request.body, request.socket.remoteAddress);
    if (/application\/json/i.test(request.headers.accept ?? '')) {
      return reply.type('application/json').send({ bootstrap: Buffer.from(result.yaml).toString('base64'), kumaSidecarConfiguration: result.sidecar });
    }
    return reply.type('application/x-yaml').send(result.yaml);
  });
}

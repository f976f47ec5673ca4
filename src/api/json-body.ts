import type { FastifyInstance } from 'fastify';
import { HttpError } from './envelope.js';

/**
 * Reads the body as JSON whatever content type the client declared, for endpoints whose documented
 * examples use curl's `--data` (which says `application/x-www-form-urlencoded`).
 */
export function parseJsonUnderContentTypes(app: FastifyInstance, contentTypes: string | string[]): void {
  app.addContentTypeParser(contentTypes, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new HttpError(400, 'Bad Request', 'body must be JSON'), undefined);
    }
  });
}

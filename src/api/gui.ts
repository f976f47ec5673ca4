import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from './auth-hooks.js';

/**
 * The web GUI: static files only (it is a client of the REST API, like skiffctl). The page and
 * styles come from `gui/public/`, the compiled TypeScript from `dist/gui/`; nothing is fetched
 * from elsewhere, so it works offline. The files are public; the data behind them is not.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GUI_DIRS = [`${ROOT}gui/public`, `${ROOT}dist/gui`];
/** The `yaml` package's own browser build (ES modules), for showing resources as YAML. */
const YAML_BROWSER = join(dirname(dirname(createRequire(import.meta.url).resolve('yaml'))), 'browser');

export async function guiRoutes(app: FastifyInstance): Promise<void> {
  // Anyone may load the page (it has to show the login form); the API still authenticates.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config ?? {}), access: PUBLIC };
  });
  const roots = GUI_DIRS.filter((dir) => existsSync(dir));
  await app.register(fastifyStatic, { root: roots, prefix: '/', index: 'index.html' });
  await app.register(fastifyStatic, { root: YAML_BROWSER, prefix: '/vendor/yaml/', decorateReply: false });
  // The page itself at the prefix (`/gui`, `/gui/`), which the wildcard route does not answer.
  // `/gui` redirects to `/gui/` so the page's relative URLs (style.css, app.js) resolve under it.
  app.get('/', (request, reply) => {
    const path = request.url.split('?')[0]!;
    return path.endsWith('/') ? reply.sendFile('index.html', GUI_DIRS[0]!) : reply.redirect(`${path}/`);
  });
}

import { all, token } from './api.js';
import { enc, h, type Child } from './dom.js';
import { dataplaneView, errorView, loginForm, meshView, overview, resourceView, whoAmI, type View } from './views.js';

/**
 * The Skiff GUI: hash routes over the REST API, re-rendered every few seconds so status stays live
 * without reloading. Routes: `#/`, `#/meshes/{mesh}`, `#/meshes/{mesh}/dataplanes/{name}`,
 * `#/meshes/{mesh}/{policy plural}/{name}`, `#/login`.
 */
const REFRESH_MS = 2000;
const main = document.getElementById('main')!;
const picker = document.getElementById('mesh-picker') as HTMLSelectElement;
const meshNav = document.getElementById('mesh-nav')!;
const live = document.getElementById('live')!;
let current: { key: string; view: View } | undefined;
let timer: number | undefined;

function route(): { key: string; view: View; mesh?: string } {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'login') return { key: 'login', view: async () => [h('h1', {}, 'Log in'), loginForm()] };
  if (parts[0] === 'meshes' && parts[1]) {
    const mesh = parts[1];
    if (parts[2] === 'dataplanes' && parts[3]) return { key: location.hash, view: dataplaneView(mesh, parts[3]), mesh };
    if (parts[2] && parts[3]) return { key: location.hash, view: resourceView(mesh, parts[2], parts[3]), mesh };
    return { key: location.hash, view: meshView(mesh), mesh };
  }
  return { key: 'overview', view: overview };
}

/** Which <details> are open, by position, so a refresh keeps what the reader expanded. */
const openDetails = () => [...main.querySelectorAll('details')].map((d) => d.open);

async function render(isRefresh: boolean): Promise<void> {
  const r = route();
  const navigated = !current || current.key !== r.key;
  current = r;
  let content: Child;
  try {
    content = await r.view();
  } catch (err) {
    content = errorView(err);
  }
  if (current !== r) return; // navigated away meanwhile
  const fresh = h('div', {}, content);
  // Identical content is left in place, whatever asked for it: a login form the user is typing
  // into must survive a second render of the same view (a submit triggers both hashchange and
  // skiff:auth), and a refresh must not reset what is open or focused.
  if (fresh.innerHTML === main.innerHTML) return;
  const open = openDetails();
  const focusedId = document.activeElement?.id;
  main.replaceChildren(...fresh.childNodes);
  if (!navigated) {
    main.querySelectorAll('details').forEach((d, i) => (d.open = open[i] ?? d.open));
    if (focusedId) document.getElementById(focusedId)?.focus();
  } else if (!isRefresh) {
    const heading = main.querySelector('h1');
    if (heading) document.title = `${heading.textContent} · Skiff`;
  }
  live.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  if (r.mesh && picker.value !== r.mesh) picker.value = r.mesh;
}

async function loadChrome(): Promise<void> {
  const who = await whoAmI();
  const whoEl = document.getElementById('who')!;
  whoEl.replaceChildren(h('span', {},
    !who || who.groups.includes('mesh-system:unauthenticated') ? 'Not signed in' : `Signed in as ${who.name}`,
    token.get()
      ? (() => {
          const b = h('button', { type: 'button' }, 'Log out');
          b.addEventListener('click', () => {
            token.clear();
            location.hash = '#/login';
            void loadChrome();
          });
          return [' ', b];
        })()
      : who?.groups.includes('mesh-system:unauthenticated')
        ? [' ', h('a', { href: '#/login' }, 'Log in')]
        : '',
  ));
  try {
    const info = await fetch(`${location.pathname.startsWith('/gui') ? '' : '/api'}/`, { headers: { accept: 'application/json' } }).then((r) => r.json());
    document.getElementById('environment')!.textContent = `${info.environment ?? 'universal'} · ${info.version ?? ''}`;
  } catch {
    // the header is informative only
  }
  try {
    const meshes = await all<{ name: string }>('/meshes');
    const selected = route().mesh ?? picker.value;
    picker.replaceChildren(h('option', { value: '' }, 'Choose a mesh'), ...meshes.map((m) => h('option', { value: m.name, selected: m.name === selected }, m.name)));
  } catch {
    picker.replaceChildren(h('option', { value: '' }, 'Log in to see meshes'));
  }
  updateMeshNav();
}

function updateMeshNav(): void {
  const mesh = picker.value;
  meshNav.replaceChildren(
    ...(mesh
      ? [h('li', {}, h('a', { href: `#/meshes/${enc(mesh)}` }, `Dataplanes and policies of ${mesh}`))]
      : []),
  );
}

picker.addEventListener('change', () => {
  updateMeshNav();
  if (picker.value) location.hash = `#/meshes/${enc(picker.value)}`;
});
window.addEventListener('hashchange', () => {
  void render(false).then(() => main.focus());
});
window.addEventListener('skiff:auth', () => {
  void loadChrome().then(() => render(false));
});

function schedule(): void {
  window.clearTimeout(timer);
  timer = window.setTimeout(async () => {
    if (document.visibilityState === 'visible') await render(true);
    schedule();
  }, REFRESH_MS);
}

void loadChrome().then(() => render(false)).then(schedule);

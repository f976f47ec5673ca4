import { all, ApiError, get, token, type Who } from './api.js';
import { enc, h, table, type Child } from './dom.js';
import { lastSubscription, LEGACY_POLICY_TYPES, POLICY_TYPES, serviceOf, TARGET_REF_POLICY_TYPES, tagsOf, type DataplaneOverview } from './model.js';

/** Loads `yaml` (served from the package itself under ./vendor/yaml/, so it works offline). */
let yamlModule: Promise<{ stringify(value: unknown): string }> | undefined;
const yaml = () => (yamlModule ??= import(/* the package's own browser build */ './vendor/yaml/index.js' as string).then((m: any) => m.default ?? m));

const fmtTime = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString() : 'never');
const status = (online: boolean) => h('span', { class: online ? 'online' : 'offline' }, online ? 'Online' : 'Offline');
const tags = (list: string[]) => list.map((t) => h('span', { class: 'tag' }, t));

/** A view renders into `main`; `refresh` re-renders it in place without a page load. */
export type View = () => Promise<Child>;

export function errorView(err: unknown): Child {
  if (err instanceof ApiError && err.status === 401) {
    return [h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Authentication required. '), err.details), loginForm()];
  }
  if (err instanceof ApiError && err.status === 403) {
    return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Access denied. '), err.details, ' Ask an admin for a token with the needed permission, or ', h('a', { href: '#/login' }, 'log in with another token'), '.');
  }
  if (err instanceof ApiError && err.status === 404) return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Not found. '), err.details);
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'The control plane could not be reached. '), err instanceof Error ? err.message : String(err));
}

export function loginForm(): HTMLElement {
  const input = h('textarea', { id: 'token', name: 'token', rows: '4', required: true, autocomplete: 'off', 'aria-describedby': 'token-help' });
  const form = h(
    'form',
    { class: 'login card' },
    h('h2', {}, 'Log in with a user token'),
    h('label', { for: 'token' }, 'User token'),
    input,
    h('p', { id: 'token-help', class: 'muted' }, 'An admin can issue one with ', h('code', {}, 'skiffctl generate user-token --name NAME --group GROUP --valid-for 24h'), '. It is kept for this browser tab only.'),
    h('button', { type: 'submit' }, 'Log in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    token.set(input.value);
    location.hash = '#/';
    window.dispatchEvent(new Event('skiff:auth'));
  });
  return form;
}

async function meshCounts(mesh: string) {
  const dataplanes = await all<DataplaneOverview>(`/meshes/${enc(mesh)}/dataplanes+insights`);
  const count = async (p: { plural: string }) => (await get<{ total: number }>(`/meshes/${enc(mesh)}/${p.plural}?size=1`)).total;
  const legacy = await Promise.all(LEGACY_POLICY_TYPES.map(count));
  const targetRef = (await Promise.all(TARGET_REF_POLICY_TYPES.map(count))).reduce((a, b) => a + b, 0);
  return { dataplanes, policies: [...legacy, targetRef] };
}

interface Instance {
  id: string;
  address: string;
  version: string;
  startTime: string;
  leader: boolean;
  proxies: number;
}

/** The live control planes on the store (several on PostgreSQL); left out when they cannot be read. */
async function controlPlanes(): Promise<Child> {
  const list = await get<{ items: Instance[] }>('/control-planes').catch(() => undefined);
  if (!list) return null;
  const n = list.items.length;
  return h(
    'section',
    { 'aria-labelledby': 'control-planes' },
    h('h2', { id: 'control-planes' }, 'Control planes'),
    table(
      ['Instance', 'xDS address', 'Version', 'Leader', 'Proxies', 'Started'],
      list.items.map((i) => [h('code', {}, i.id), i.address, i.version, i.leader ? 'yes' : 'no', i.proxies, fmtTime(i.startTime)]),
      `${n} control plane${n === 1 ? '' : 's'} on this store`,
    ),
  );
}

interface Rollout {
  id: string;
  resource: { type: string; mesh: string; name: string };
  operation: string;
  startTime: string;
  endTime: string | null;
  concerned: number;
  acknowledged: number;
  rejected: number;
  pending: number;
  dataplanes: Array<{ mesh: string; name: string; state: string; error?: string }>;
}

const rolloutState = (r: Rollout) => (r.rejected > 0 ? 'rejected' : r.endTime === null ? 'in progress' : 'done');

/** The writes made through this control plane and where they have arrived (GET /rollouts). */
async function recentRollouts(): Promise<Child> {
  const list = await get<{ items: Rollout[] }>('/rollouts').catch(() => undefined);
  if (!list) return null;
  const recent = list.items.slice(0, 10);
  return h(
    'section',
    { 'aria-labelledby': 'rollouts' },
    h('h2', { id: 'rollouts' }, 'Recent rollouts'),
    recent.length === 0
      ? h('p', { class: 'muted' }, 'No change made through this control plane yet.')
      : table(
          ['Resource', 'Operation', 'Started', 'Acknowledged', 'Rejected', 'Pending', 'State'],
          recent.map((r) => [`${r.resource.type} ${r.resource.mesh ? `${r.resource.mesh}/` : ''}${r.resource.name}`, r.operation, fmtTime(r.startTime), `${r.acknowledged}/${r.concerned}`, r.rejected, r.pending, rolloutState(r)]),
        ),
  );
}

export const overview: View = async () => {
  const [info, meshes, instances, rollouts] = await Promise.all([get<{ environment?: string; version?: string }>('/'), all<{ name: string }>('/meshes'), controlPlanes(), recentRollouts()]);
  const counts = await Promise.all(meshes.map((m) => meshCounts(m.name)));
  const total = counts.reduce((t, c) => t + c.dataplanes.length, 0);
  const walkthrough =
    total === 0
      ? h(
          'section',
          { class: 'card', 'aria-labelledby': 'welcome' },
          h('h2', { id: 'welcome' }, 'Welcome to Skiff'),
          h('p', {}, 'Environment: ', h('strong', {}, info.environment ?? 'universal'), '. No data plane proxy has been registered yet. Add one:'),
          h('ol', {}, [
            h('li', {}, 'Register a Dataplane:', h('pre', {}, `curl -XPUT http://localhost:5681/meshes/default/dataplanes/redis-1 \\\n  -H 'content-type: application/yaml' --data-binary @- <<'YAML'\ntype: Dataplane\nmesh: default\nname: redis-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n  - port: 9000\n    servicePort: 6379\n    tags:\n      kuma.io/service: redis\nYAML`)),
            h('li', {}, 'Issue its token:', h('pre', {}, 'skiffctl generate dataplane-token --name redis-1 --mesh default > /tmp/redis-1.token')),
            h('li', {}, 'Start its sidecar:', h('pre', {}, 'skiff-dp run --cp-address https://localhost:5682 --ca-cert-file certs/api-server.crt \\\n  --name redis-1 --mesh default --dataplane-token-file /tmp/redis-1.token')),
          ]),
          h('p', {}, 'Dataplanes found: ', h('strong', { id: 'found' }, String(total)), ' (this page updates by itself).'),
        )
      : null;
  return [
    h('h1', {}, 'Overview'),
    walkthrough,
    table(
      ['Mesh', 'Dataplanes', 'Online', 'Offline', ...LEGACY_POLICY_TYPES.map((p) => p.label), 'Kuma 2.x policies'],
      meshes.map((m, i) => {
        const c = counts[i]!;
        const online = c.dataplanes.filter((d) => d.online).length;
        return [h('a', { href: `#/meshes/${enc(m.name)}` }, m.name), c.dataplanes.length, online, c.dataplanes.length - online, ...c.policies];
      }),
      `${meshes.length} mesh${meshes.length === 1 ? '' : 'es'}, ${total} dataplane${total === 1 ? '' : 's'}`,
    ),
    instances,
    rollouts,
  ];
};

export function meshView(mesh: string): View {
  return async () => {
    const [dataplanes, policyLists, meshResource] = await Promise.all([
      all<DataplaneOverview>(`/meshes/${enc(mesh)}/dataplanes+insights`),
      Promise.all(POLICY_TYPES.map((p) => all<{ name: string }>(`/meshes/${enc(mesh)}/${p.plural}`))),
      get(`/meshes/${enc(mesh)}`),
    ]);
    const YAML = await yaml();
    const listOf = (p: (typeof POLICY_TYPES)[number]) => policyLists[POLICY_TYPES.indexOf(p)]!;
    return [
      h('h1', {}, `Mesh ${mesh}`),
      h('h2', { id: 'dataplanes' }, 'Dataplanes'),
      dataplanes.length === 0
        ? h('p', { class: 'muted' }, 'No dataplanes in this mesh yet.')
        : table(
            ['Name', 'Tags', 'Status', 'Last connected', 'Updates sent', 'ACKed', 'NACKed', 'Certificate expiry'],
            dataplanes.map((d) => {
              const last = lastSubscription(d);
              const total = last?.status?.total ?? {};
              return [
                h('a', { href: `#/meshes/${enc(mesh)}/dataplanes/${enc(d.name)}` }, d.name),
                tags(tagsOf(d.dataplane.networking)),
                status(d.online),
                fmtTime(last?.connectTime),
                total.responsesSent ?? '0',
                total.responsesAcknowledged ?? '0',
                total.responsesRejected ?? '0',
                d.dataplaneInsight.mTLS?.certificateExpirationTime ? fmtTime(d.dataplaneInsight.mTLS.certificateExpirationTime) : '—',
              ];
            }),
          ),
      LEGACY_POLICY_TYPES.map((p) => [
        h('h2', { id: p.plural }, p.label),
        listOf(p).length === 0
          ? h('p', { class: 'muted' }, 'None.')
          : h('ul', {}, listOf(p).map((r) => h('li', {}, h('a', { href: `#/meshes/${enc(mesh)}/${p.plural}/${enc(r.name)}` }, r.name)))),
      ]),
      h('h2', { id: 'targetref-policies' }, 'Kuma 2.x policies'),
      TARGET_REF_POLICY_TYPES.every((p) => listOf(p).length === 0)
        ? h('p', { class: 'muted' }, 'None.')
        : table(
            ['Type', 'Name'],
            TARGET_REF_POLICY_TYPES.flatMap((p) => listOf(p).map((r) => [p.type, h('a', { href: `#/meshes/${enc(mesh)}/${p.plural}/${enc(r.name)}` }, r.name)])),
          ),
      h('details', {}, h('summary', {}, 'Mesh YAML'), h('pre', {}, YAML.stringify(meshResource))),
    ];
  };
}

export function resourceView(mesh: string, plural: string, name: string): View {
  return async () => {
    const resource = await get(`/meshes/${enc(mesh)}/${enc(plural)}/${enc(name)}`);
    const YAML = await yaml();
    return [h('h1', {}, `${String(resource.type)} ${name}`), h('p', {}, h('a', { href: `#/meshes/${enc(mesh)}` }, `Back to mesh ${mesh}`)), h('pre', { 'aria-label': 'YAML' }, YAML.stringify(resource))];
  };
}

export function dataplaneView(mesh: string, name: string): View {
  return async () => {
    const base = `/meshes/${enc(mesh)}/dataplanes/${enc(name)}`;
    const [o, policies, xds, rollouts] = await Promise.all([
      get<DataplaneOverview>(`/meshes/${enc(mesh)}/dataplanes+insights/${enc(name)}`),
      get<{ items: Array<{ type: string; name: string; attachment: { type: string; service?: string } }> }>(`${base}/policies`),
      get<{ connected: boolean; resources?: Record<string, Record<string, { version: string; resource: unknown }>> }>(`${base}/xds`),
      get<{ items: Rollout[] }>(`/rollouts?mesh=${enc(mesh)}`).catch(() => ({ items: [] as Rollout[] })),
    ]);
    // The changes this dataplane has not taken: still pending, or rejected (with its proxy's error).
    const mine = rollouts.items.flatMap((r) => r.dataplanes.filter((d) => d.name === name && (d.state === 'pending' || d.state === 'rejected')).map((d) => ({ r, d })));
    const YAML = await yaml();
    const net = o.dataplane.networking ?? {};
    const subs = o.dataplaneInsight.subscriptions ?? [];
    const plural = (type: string) => POLICY_TYPES.find((p) => p.type === type)?.plural ?? '';
    return [
      h('h1', {}, `Dataplane ${name} `, status(o.online)),
      h('p', {}, h('a', { href: `#/meshes/${enc(mesh)}` }, `Mesh ${mesh}`), ' · address ', net.address ?? '—', o.dataplaneInsight.mTLS?.certificateExpirationTime ? ` · certificate expires ${fmtTime(o.dataplaneInsight.mTLS.certificateExpirationTime)}` : ''),
      mine.length === 0
        ? null
        : [
            h('h2', { id: 'unapplied' }, 'Changes not applied'),
            table(
              ['Resource', 'Started', 'State', 'Error'],
              mine.map(({ r, d }) => [`${r.resource.type} ${r.resource.name}`, fmtTime(r.startTime), d.state, d.error ?? '']),
            ),
          ],
      h('h2', {}, 'Inbounds'),
      table(
        ['Address', 'Port', 'Service port', 'Tags'],
        (net.inbound ?? []).map((i) => [i.interface ?? i.address ?? net.address ?? '', i.port ?? '', i.servicePort ?? '', tags(Object.entries(i.tags ?? {}).map(([k, v]) => `${k}=${v}`))]),
      ),
      h('h2', {}, 'Outbounds'),
      (net.outbound ?? []).length === 0
        ? h('p', { class: 'muted' }, 'None.')
        : table(['Address', 'Port', 'Service'], (net.outbound ?? []).map((u) => [u.interface ?? u.address ?? '127.0.0.1', u.port ?? '', u.service ?? serviceOf(u.tags)])),
      h('h2', {}, 'Policies that apply'),
      policies.items.length === 0
        ? h('p', { class: 'muted' }, 'None.')
        : table(['Type', 'Name', 'Applies to'], policies.items.map((p) => [p.type, h('a', { href: `#/meshes/${enc(mesh)}/${plural(p.type)}/${enc(p.name)}` }, p.name), p.attachment.service ? `${p.attachment.type} ${p.attachment.service}` : p.attachment.type])),
      h('h2', {}, 'Insights'),
      subs.length === 0
        ? h('p', { class: 'muted' }, 'This dataplane has never connected.')
        : table(
            ['Connected', 'Disconnected', 'Last update', 'Sent', 'ACKed', 'NACKed'],
            subs.map((s) => [fmtTime(s.connectTime), s.disconnectTime ? fmtTime(s.disconnectTime) : '—', fmtTime(s.status?.lastUpdateTime), s.status?.total?.responsesSent ?? '0', s.status?.total?.responsesAcknowledged ?? '0', s.status?.total?.responsesRejected ?? '0']),
          ),
      h('h2', {}, 'xDS configuration'),
      !xds.connected
        ? h('p', { class: 'muted' }, 'No proxy is connected: nothing is being served.')
        : Object.entries(xds.resources ?? {}).map(([type, byName]) =>
            h('details', {}, h('summary', {}, `${type.toUpperCase()} (${Object.keys(byName).length})`), Object.entries(byName).map(([n, r]) => h('details', {}, h('summary', {}, n), h('pre', {}, YAML.stringify(r.resource))))),
          ),
      h('details', {}, h('summary', {}, 'Dataplane YAML'), h('pre', {}, YAML.stringify({ type: 'Dataplane', mesh, name, ...o.dataplane }))),
    ];
  };
}

export async function whoAmI(): Promise<Who | undefined> {
  try {
    return await get<Who>('/who-am-i');
  } catch {
    return undefined;
  }
}

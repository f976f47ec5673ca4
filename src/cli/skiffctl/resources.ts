import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify as toYaml } from 'yaml';
import { isResourceTypeName, RESOURCE_TYPES, type ResourceTypeDescriptor } from '../../core/registry.js';
import { normalizeDataplane } from '../../core/resources/dataplane.js';
import type { Impact, ResourceRef } from '../../xds/preview.js';
import type { RolloutView } from '../../xds/rollouts.js';
import { callApi, describeFailure, type ApiResponse } from './api-client.js';
import type { ApiServerCoordinates } from './config-file.js';

import { UsageError } from '../run.js';

type Obj = Record<string, unknown>;

/** `dataplanes`, `dataplane`, `Dataplane`, `traffic-route`, `trafficroutes`... → the descriptor. */
export function typeFromArg(arg: string | undefined): ResourceTypeDescriptor {
  const wanted = (arg ?? '').toLowerCase().replace(/-/g, '');
  const match = RESOURCE_TYPES.filter((d) => !d.systemOwned).find((d) => {
    const plural = d.plural.replace(/-/g, '');
    const singular = plural === 'meshes' ? 'mesh' : plural.replace(/s$/, '');
    return wanted === plural || wanted === singular || wanted === d.name.toLowerCase();
  });
  if (!match) {
    const known = RESOURCE_TYPES.filter((d) => !d.systemOwned).map((d) => d.plural).join(', ');
    throw new UsageError(`unknown resource type "${arg ?? ''}": one of ${known}`);
  }
  return match;
}

function collectionPath(d: ResourceTypeDescriptor, mesh: string): string {
  return d.scope === 'mesh' ? `meshes/${encodeURIComponent(mesh)}/${d.plural}` : d.plural;
}

function itemPath(d: ResourceTypeDescriptor, mesh: string, name: string): string {
  return `${collectionPath(d, mesh)}/${encodeURIComponent(name)}`;
}

async function ok(response: Promise<ApiResponse>, action: string): Promise<ApiResponse> {
  const r = await response;
  if (r.status >= 400) throw new Error(`${action}: ${describeFailure(r)}`);
  return r;
}

/** Follows `next` links so `get` shows everything, not the first page. */
async function listAll(api: ApiServerCoordinates, path: string): Promise<Obj[]> {
  const items: Obj[] = [];
  let next: string | null = `${path}?size=1000`;
  while (next) {
    const body = JSON.parse((await ok(callApi(api, 'GET', next), 'could not list')).body) as { items: Obj[]; next: string | null };
    items.push(...body.items);
    next = body.next ? new URL(body.next).pathname.slice(1) + new URL(body.next).search : null;
  }
  return items;
}

/** Aligned columns like kubectl's: two spaces between columns, headers in capitals. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function age(iso: unknown): string {
  const ms = Date.now() - Date.parse(String(iso));
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function tagsOf(resource: Obj): string {
  try {
    const inbound = normalizeDataplane(resource).inbound;
    const tags = new Map<string, Set<string>>();
    for (const i of inbound) for (const [k, v] of Object.entries(i.tags)) (tags.get(k) ?? tags.set(k, new Set()).get(k)!).add(v);
    return [...tags].map(([k, v]) => `${k}=${[...v].join(',')}`).join(' ');
  } catch {
    return '';
  }
}

function render(d: ResourceTypeDescriptor, items: Obj[], output: string): string {
  if (output === 'json') return JSON.stringify({ total: items.length, items }, null, 2);
  if (output === 'yaml') return toYaml({ total: items.length, items });
  if (d.name === 'Dataplane') return table(['MESH', 'NAME', 'TAGS', 'AGE'], items.map((r) => [String(r.mesh), String(r.name), tagsOf(r), age(r.creationTime)]));
  if (d.scope === 'mesh') return table(['MESH', 'NAME', 'AGE'], items.map((r) => [String(r.mesh), String(r.name), age(r.creationTime)]));
  return table(['NAME', 'AGE'], items.map((r) => [String(r.name), age(r.creationTime)]));
}

export async function getCommand(api: ApiServerCoordinates, typeArg: string | undefined, name: string | undefined, mesh: string, output: string): Promise<string> {
  if (!['table', 'yaml', 'json'].includes(output)) throw new UsageError('-o must be table, yaml or json');
  const d = typeFromArg(typeArg);
  if (name) {
    const item = JSON.parse((await ok(callApi(api, 'GET', itemPath(d, mesh, name)), `could not get ${d.name} "${name}"`)).body) as Obj;
    if (output === 'json') return JSON.stringify(item, null, 2);
    if (output === 'yaml') return toYaml(item);
    return render(d, [item], 'table');
  }
  return render(d, await listAll(api, collectionPath(d, mesh)), output);
}

export async function deleteCommand(
  api: ApiServerCoordinates,
  typeArg: string | undefined,
  name: string | undefined,
  mesh: string,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<string> {
  const d = typeFromArg(typeArg);
  if (!name) throw new UsageError(`usage: skiffctl delete ${d.plural} NAME${d.scope === 'mesh' ? ' [--mesh MESH]' : ''}`);
  const warnings = d.name === 'GlobalSecret' ? await lockoutWarnings(api, name) : [];
  await ok(callApi(api, 'DELETE', itemPath(d, mesh, name)), `could not delete ${d.name} "${name}"`);
  for (const line of warnings) warn(`Warning: ${line}`);
  return `deleted ${d.name} "${name}"`;
}

/** The `kid` of a compact JWT, undefined when it is not one. */
function keyIdOf(token: string | undefined): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(String(token).split('.')[0] ?? '', 'base64url').toString()) as { kid?: unknown };
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Deleting some global secrets can lock admins out: the signing key of the token this skiffctl
 * uses or of the stored admin token (those tokens stop validating), or the admin token itself
 * while localhost is not admin. Each is said before it surprises anyone. Best effort: what the
 * caller may not read is not guessed at.
 */
async function lockoutWarnings(api: ApiServerCoordinates, name: string): Promise<string[]> {
  const read = async (path: string) => {
    const r = await callApi(api, 'GET', path).catch(() => undefined);
    return r && r.status === 200 ? (JSON.parse(r.body) as Obj) : undefined;
  };
  const warnings: string[] = [];
  const serial = /^user-token-signing-key-(\d+)$/.exec(name)?.[1];
  if (serial !== undefined) {
    if (keyIdOf(api.authConf?.token) === serial) {
      warnings.push(`the user token this skiffctl sends was signed by ${name}: it is no longer valid; configure a token signed by a remaining key (skiffctl config control-planes add ... --auth-conf token=...)`);
    }
    const admin = await read('/global-secrets/admin-user-token');
    if (admin && keyIdOf(Buffer.from(String(admin.data ?? ''), 'base64').toString()) === serial) {
      warnings.push(`the admin token in global secret admin-user-token was signed by ${name}: it is no longer valid`);
    }
  }
  if (name === 'admin-user-token') {
    const config = await read('/config');
    const authn = ((config?.apiServer as Obj | undefined)?.authn ?? {}) as Obj;
    if (authn.localhostIsAdmin === false) {
      warnings.push('localhost is not admin (apiServer.authn.localhostIsAdmin: false): unless you hold another admin user token or client certificate, nobody can administer this control plane any more');
    }
  }
  return warnings;
}

/** `{{ key }}` → the --var value; an unset variable is an error, not an empty string. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_m, key: string) => {
    if (!(key in vars)) throw new UsageError(`variable "${key}" is used but not set: pass --var ${key}=...`);
    return vars[key]!;
  });
}

/** Every YAML document of the input, each a resource with `type` and `name` (and `mesh` where it belongs). */
export function parseResources(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i + 1} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJSON() as unknown;
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`document ${i + 1} is not a resource (expected a mapping with type and name)`);
    const resource = value as Obj;
    if (!isResourceTypeName(resource.type)) throw new Error(`document ${i + 1}: unknown or missing type "${String(resource.type ?? '')}"`);
    if (typeof resource.name !== 'string' || resource.name === '') throw new Error(`document ${i + 1}: name is missing`);
    out.push(resource);
  });
  if (out.length === 0) throw new Error('no resources in the input');
  return out;
}

export async function applyCommand(
  api: ApiServerCoordinates,
  options: { file: string; vars: Record<string, string>; dryRun: boolean; output?: string; wait?: { timeoutMs: number }; progress: (line: string) => void; readStdin: () => string },
): Promise<string> {
  let text: string;
  if (options.file === '-') text = options.readStdin();
  else {
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${options.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const resources = parseResources(substitute(text, options.vars));
  const lines: string[] = [];
  const previews: Obj[] = [];
  for (const [i, resource] of resources.entries()) {
    const d = typeFromArg(String(resource.type));
    const mesh = typeof resource.mesh === 'string' && resource.mesh !== '' ? resource.mesh : 'default';
    const label = `${d.name} ${d.scope === 'mesh' ? `${mesh}/` : ''}${String(resource.name)}`;
    if (resources.length > 1) options.progress(`[${i + 1}/${resources.length}] ${label}`);
    const path = itemPath(d, mesh, String(resource.name)) + (options.dryRun ? '?dryRun=true' : '');
    const r = await ok(callApi(api, 'PUT', path, resource), `could not apply ${label}`);
    if (!options.dryRun) {
      lines.push(`${label} ${r.status === 201 ? 'created' : 'updated'}`);
      if (options.wait && r.rollout) await waitForRollout(api, r.rollout, label, options.wait.timeoutMs, options.progress);
      continue;
    }
    const body = (r.body ? JSON.parse(r.body) : {}) as Obj;
    previews.push({ type: d.name, mesh: d.scope === 'mesh' ? mesh : undefined, name: resource.name, ...body });
    lines.push(`${label} would be ${body.operation === 'create' ? 'created' : 'updated'}`, ...impactLines(body.impact as Impact | undefined));
  }
  if (options.dryRun && options.output === 'json') return JSON.stringify(previews.length === 1 ? previews[0] : { items: previews }, null, 2);
  if (options.dryRun && options.output === 'yaml') return toYaml(previews.length === 1 ? previews[0] : { items: previews });
  return lines.join('\n');
}

/** The error `apply --wait` fails with: proxies rejected the change, or it did not arrive in time. */
export class RolloutFailed extends Error {}

/**
 * Follows a rollout until every concerned proxy answered: a progress line as it moves; an error
 * naming the dataplanes that rejected it (and why) or are still pending when the time is up.
 */
async function waitForRollout(api: ApiServerCoordinates, id: string, label: string, timeoutMs: number, progress: (line: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await ok(callApi(api, 'GET', `rollouts/${encodeURIComponent(id)}`), `could not follow the rollout of ${label}`);
    const view = JSON.parse(r.body) as RolloutView;
    const line = `${label}: ${view.acknowledged}/${view.concerned} proxies acknowledged${view.rejected ? `, ${view.rejected} rejected` : ''}${view.pending ? `, ${view.pending} pending` : ''}`;
    if (line !== last) progress((last = line));
    const rejected = view.dataplanes.filter((d) => d.state === 'rejected');
    if (rejected.length > 0 && view.pending === 0) throw new RolloutFailed(`${label} was rejected by ${rejected.map((d) => `${d.mesh}/${d.name} (${d.error ?? 'NACK'})`).join(', ')}`);
    if (view.endTime !== null) {
      if (rejected.length > 0) throw new RolloutFailed(`${label} was rejected by ${rejected.map((d) => `${d.mesh}/${d.name} (${d.error ?? 'NACK'})`).join(', ')}`);
      return;
    }
    if (Date.now() > deadline) {
      const pending = view.dataplanes.filter((d) => d.state === 'pending').map((d) => `${d.mesh}/${d.name}`);
      throw new RolloutFailed(`${label}: timed out after ${Math.round(timeoutMs / 1000)} s with ${pending.length ? `pending: ${pending.join(', ')}` : 'the change not yet published'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const SHORT: Record<string, string> = { Cluster: 'cluster', ClusterLoadAssignment: 'endpoints', Listener: 'listener', RouteConfiguration: 'route' };
const refText = (r: ResourceRef) => `${SHORT[r.typeUrl.slice(r.typeUrl.lastIndexOf('.') + 1)] ?? r.typeUrl} ${r.name}`;

/** A dry run's impact, readable: how many dataplanes, and per dataplane what changes. */
function impactLines(impact: Impact | undefined): string[] {
  if (!impact) return [];
  if (impact.dataplanes === 0) return ['  no dataplane configuration would change'];
  const out = [`  ${impact.dataplanes} dataplane${impact.dataplanes === 1 ? '' : 's'} would change:`];
  for (const item of impact.items) {
    if (item.error) {
      out.push(`    ${item.mesh}/${item.name}: generation would fail (it would keep its configuration): ${item.error}`);
      continue;
    }
    const parts = [...item.added.map((r) => `+${refText(r)}`), ...item.removed.map((r) => `-${refText(r)}`), ...item.modified.map((r) => `~${refText(r)}`)];
    out.push(`    ${item.mesh}/${item.name}: ${parts.join(', ')}`);
  }
  return out;
}

export async function inspectDataplanes(api: ApiServerCoordinates, mesh: string, output: string): Promise<string> {
  const items = await listAll(api, `meshes/${encodeURIComponent(mesh)}/dataplanes+insights`);
  if (output === 'json') return JSON.stringify({ total: items.length, items }, null, 2);
  if (output === 'yaml') return toYaml({ total: items.length, items });
  const rows = items.map((o) => {
    const subs = ((o.dataplaneInsight as Obj | undefined)?.subscriptions as Obj[] | undefined) ?? [];
    const last = subs[subs.length - 1];
    const total = ((last?.status as Obj | undefined)?.total as Obj | undefined) ?? {};
    return [
      String(o.mesh),
      String(o.name),
      tagsOf((o.dataplane as Obj) ?? {}),
      o.online ? 'Online' : 'Offline',
      last ? String(last.connectTime) : 'never',
      String(total.responsesSent ?? 0),
      String(total.responsesAcknowledged ?? 0),
      String(total.responsesRejected ?? 0),
      String((((o.dataplaneInsight as Obj | undefined)?.mTLS as Obj | undefined)?.certificateExpirationTime as string | undefined) ?? '-'),
    ];
  });
  return table(['MESH', 'NAME', 'TAGS', 'STATUS', 'LAST CONNECTED AT', 'UPDATES SENT', 'ACKED', 'NACKED', 'CERT EXPIRY'], rows);
}

/** `skiffctl inspect control-planes`: the live control planes on the store (`GET /control-planes`). */
export async function inspectControlPlanes(api: ApiServerCoordinates, output: string): Promise<string> {
  const r = await ok(callApi(api, 'GET', 'control-planes'), 'could not list the control planes');
  const list = JSON.parse(r.body) as { total: number; items: Obj[] };
  if (output === 'json') return JSON.stringify(list, null, 2);
  if (output === 'yaml') return toYaml(list);
  const rows = list.items.map((i) => [String(i.id), String(i.address), String(i.version), i.leader ? 'yes' : 'no', String(i.proxies), String(i.startTime), String(i.heartbeatTime)]);
  return table(['ID', 'ADDRESS', 'VERSION', 'LEADER', 'PROXIES', 'STARTED', 'LAST HEARTBEAT'], rows);
}

/** Kuma's `inspect dataplane --type=config [--shadow] [--include=diff]`: `GET .../_config`. */
export async function inspectDataplaneShadowConfig(api: ApiServerCoordinates, mesh: string, name: string, options: { shadow: boolean; include?: string }): Promise<string> {
  const query = new URLSearchParams({ ...(options.shadow ? { shadow: 'true' } : {}), ...(options.include ? { include: options.include } : {}) }).toString();
  const r = await ok(callApi(api, 'GET', `meshes/${encodeURIComponent(mesh)}/dataplanes/${encodeURIComponent(name)}/_config${query ? `?${query}` : ''}`), `could not inspect Dataplane "${name}"`);
  return JSON.stringify(JSON.parse(r.body), null, 2);
}

export async function inspectDataplaneConfig(api: ApiServerCoordinates, mesh: string, name: string): Promise<string> {
  const r = await ok(callApi(api, 'GET', `meshes/${encodeURIComponent(mesh)}/dataplanes/${encodeURIComponent(name)}/xds`), `could not inspect Dataplane "${name}"`);
  return JSON.stringify(JSON.parse(r.body), null, 2);
}

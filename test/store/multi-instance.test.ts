import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import type { PostgresOptions } from '../../src/store/postgres/postgres-store.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { DeltaClient, SotwClient } from '../helpers/ads-client.js';
import { decodeResource } from '../../src/xds/protos.js';
import { startCpProcess, type RunningCp } from '../helpers/cp-process.js';
import { controlPlanePostgresEnv, freshPostgresSchema, postgresUnavailable } from '../helpers/postgres.js';

const pgSkip = await postgresUnavailable();

const HEARTBEAT_MS = 2000;
const SKIFFCTL = fileURLToPath(new URL('../../src/cli/skiffctl.js', import.meta.url));
const SKIFF_DP = fileURLToPath(new URL('../../src/cli/skiff-dp.js', import.meta.url));

interface Instance {
  id: string;
  address: string;
  leader: boolean;
  proxies: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function api(cp: RunningCp, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${cp.apiUrl}${path}`, {
    method,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const dataplane = (name: string, service: string, port: number) => ({
  type: 'Dataplane',
  mesh: 'default',
  name,
  networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service } }], outbound: [{ port: 20000, tags: { 'kuma.io/service': 'backend' } }] },
});

/** The endpoints of `backend` a proxy holds after this response, if it is an EDS one. */
function backendEndpoints(decoded: Array<Record<string, unknown>>): number | undefined {
  const cla = decoded.find((d) => d.cluster_name === 'backend');
  if (!cla) return undefined;
  return ((cla.endpoints as Array<{ lb_endpoints?: unknown[] }> | undefined) ?? []).reduce((n, e) => n + (e.lb_endpoints?.length ?? 0), 0);
}

describe('several control planes on one PostgreSQL', { skip: pgSkip ?? false }, () => {
  let drop: () => Promise<void>;
  let pgOptions: PostgresOptions;
  let env: Record<string, string>;
  const dirs: string[] = [];
  let cps: RunningCp[] = [];
  let caPem = '';
  /** xDS over TLS, trusting only the CA the instances share. */
  const tls = () => grpc.credentials.createSsl(Buffer.from(caPem));

  const start = (): Promise<RunningCp> => {
    const wd = mkdtempSync(join(tmpdir(), 'skiff-multi-'));
    dirs.push(wd);
    return startCpProcess({ ...env, KUMA_GENERAL_WORK_DIR: wd });
  };
  const instancesSeenBy = async (cp: RunningCp): Promise<Instance[]> => (await api(cp, 'GET', '/control-planes')).json.items as Instance[];
  const leaderOf = async (among: RunningCp[]) => {
    for (const cp of among) {
      const list = await instancesSeenBy(cp);
      const leader = list.find((i) => i.leader);
      if (leader) return leader;
    }
    return undefined;
  };
  const idOf = async (cp: RunningCp): Promise<string> => (await api(cp, 'GET', '/')).json.instanceId as string;

  before(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    const o = fresh.options;
    pgOptions = o;
    env = {
      ...controlPlanePostgresEnv(o),
      KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS: '5',
      KUMA_STORE_POSTGRES_HEARTBEAT_INTERVAL: `${HEARTBEAT_MS}ms`,
      KUMA_STORE_POSTGRES_LEADER_ELECTION_INTERVAL: '200ms',
      KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken',
    };
    // All three at the same moment on an empty (migrated) database.
    cps = await Promise.all([start(), start(), start()]);
    const secret = await api(cps[0]!, 'GET', '/global-secrets/control-plane-ca');
    assert.equal(secret.status, 200, 'the leader stored the control-plane CA');
    caPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(Buffer.from(secret.json.data, 'base64').toString())![0];
  });

  after(async () => {
    await Promise.all(cps.map((cp) => cp.kill()));
    await drop?.();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('elects exactly one leader, which alone creates the defaults once', async () => {
    const lists = await until('all three to see all three', async () => {
      const seen = await Promise.all(cps.map(instancesSeenBy));
      return seen.every((l) => l.length === 3) ? seen : undefined;
    });
    const ids = await Promise.all(cps.map(idOf));
    for (const list of lists) {
      assert.deepEqual(list.map((i) => i.id).sort(), [...ids].sort());
      assert.equal(list.filter((i) => i.leader).length, 1, 'one leader');
    }
    assert.equal(new Set(lists.map((l) => l.find((i) => i.leader)!.id)).size, 1, 'the same leader for everyone');
    const outputs = cps.map((cp) => cp.output());
    const count = (re: RegExp) => outputs.reduce((n, out) => n + (out.match(re)?.length ?? 0), 0);
    assert.equal(count(/this control plane is now the leader/g), 1);
    assert.equal(count(/created the default Mesh/g), 1);
    assert.equal(count(/created user token signing key 1/g), 1);
    assert.equal(count(/stored an admin user token/g), 1);
    const secrets = (await api(cps[0]!, 'GET', '/global-secrets')).json.items.map((s: { name: string }) => s.name).sort();
    assert.deepEqual(secrets, ['admin-user-token', 'control-plane-ca', 'user-token-signing-key-1']);
    assert.equal(count(/created the control-plane CA/g), 1);
    const meshSecrets = (await api(cps[1]!, 'GET', '/meshes/default/secrets')).json.items.map((s: { name: string }) => s.name);
    assert.deepEqual(meshSecrets, ['dataplane-token-signing-key-default-1']);
  });

  it('hands out bootstraps that list every live instance and trust the CA they share', async () => {
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/boot-1', dataplane('boot-1', 'web', 8070))).status, 201);
    const token = await fetch(`${cps[1]!.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'boot-1', mesh: 'default' }) }).then((r) => r.text());
    const ports = cps.map((cp) => Number(cp.xdsAddress.split(':')[1]));
    const bootstraps = [];
    for (const cp of cps) {
      const r = await api(cp, 'POST', '/bootstrap', { mesh: 'default', name: 'boot-1', dataplaneToken: token });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const doc = parseYaml(Buffer.from(r.json.bootstrap, 'base64').toString()) as any;
      const ads = doc.static_resources.clusters[0];
      const listed = ads.load_assignment.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value);
      assert.equal(listed[0], Number(cp.xdsAddress.split(':')[1]), 'the instance asked comes first');
      assert.deepEqual([...listed].sort(), [...ports].sort(), 'every live instance is listed');
      bootstraps.push(ads.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.inline_string);
    }
    assert.ok(bootstraps.every((ca) => ca === caPem), 'every bootstrap trusts the shared CA');
    // Each instance serves a certificate of that CA for its own address.
    for (const cp of cps) {
      const proxy = new SotwClient(cp.xdsAddress, 'default.boot-1', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
      proxy.request(TYPE_URLS.cluster);
      await proxy.inbox.next(5000);
      proxy.close();
    }
    // skiff-dp takes several addresses and skips one that is down.
    const tokenFile = join(dirs[0]!, 'boot-1.token');
    writeFileSync(tokenFile, token);
    const dp = spawnSync(process.execPath, [SKIFF_DP, 'run', '--cp-address', `http://127.0.0.1:1,${cps[2]!.apiUrl}`, '--name', 'boot-1', '--dataplane-token-file', tokenFile, '--dry-run'], { encoding: 'utf8' });
    assert.equal(dp.status, 0, dp.stderr);
    assert.match(dp.stdout, /ads_cluster/);
  });

  it('a write through any instance reaches proxies on the others', async (t) => {
    // web-1 on cps[1], its token issued by cps[0]; backends written through cps[0] and cps[2].
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', 'web', 8080))).status, 201);
    const token = (await fetch(`${cps[0]!.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-1', mesh: 'default' }) }).then((r) => r.text()));
    const proxy = new SotwClient(cps[1]!.xdsAddress, 'default.web-1', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
    t.after(() => proxy.close());
    proxy.request(TYPE_URLS.endpoint, ['backend']);
    let last = await proxy.inbox.next(5000);
    assert.equal(backendEndpoints(last.decoded) ?? 0, 0);
    const latencies: number[] = [];
    for (let i = 1; i <= 30; i++) {
      proxy.request(TYPE_URLS.endpoint, ['backend'], { version: last.version_info, nonce: last.nonce });
      const writer = i % 2 === 0 ? cps[0]! : cps[2]!;
      const sent = performance.now();
      assert.equal((await api(writer, 'PUT', `/meshes/default/dataplanes/backend-${i}`, dataplane(`backend-${i}`, 'backend', 9000 + i))).status, 201);
      for (;;) {
        last = await proxy.inbox.next(5000);
        if (backendEndpoints(last.decoded) === i) break;
        proxy.request(TYPE_URLS.endpoint, ['backend'], { version: last.version_info, nonce: last.nonce });
      }
      latencies.push(performance.now() - sent);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(`cross-instance propagation (PUT answered → EDS on another instance), 30 writes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    assert.ok(p99 <= 1000, `p99 ${p99.toFixed(0)} ms`);

    // Revoked through cps[2]: the stream on cps[1] ends.
    const revokedAt = Date.now();
    const jti = String(decodeJwt(token).jti);
    assert.equal((await api(cps[2]!, 'PUT', '/meshes/default/secrets/dataplane-token-revocations-default', { type: 'Secret', mesh: 'default', name: 'dataplane-token-revocations-default', data: Buffer.from(jti).toString('base64') })).status, 201);
    const ended = await proxy.inbox.closed(2000);
    const dropMs = Date.now() - revokedAt;
    console.log(`revocation through one instance → stream on another dropped in ${dropMs} ms`);
    assert.equal(ended.code, status.UNAUTHENTICATED);
    assert.ok(dropMs < 2000);
  });

  it('a rollout written through one instance counts the proxies of the others, ACKs and NACKs, from whichever instance is asked', async (t) => {
    // r-1 on cps[1] (state of the world), r-2 on cps[2] (delta); the writes go through cps[0], which serves neither.
    const proxyDp = (name: string, port: number) => ({ type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'rollout-web' } }], outbound: [{ port: 20001, tags: { 'kuma.io/service': 'rollout-db' } }] } });
    const db = (name: string, port: number) => ({ type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'rollout-db' } }] } });
    const tokenOf = (name: string) => fetch(`${cps[0]!.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, mesh: 'default' }) }).then((r) => r.text());
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/r-1', proxyDp('r-1', 8201))).status, 201);
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/r-2', proxyDp('r-2', 8202))).status, 201);
    const sotw = new SotwClient(cps[1]!.xdsAddress, 'default.r-1', { metadata: { authorization: `Bearer ${await tokenOf('r-1')}` }, credentials: tls() });
    const delta = new DeltaClient(cps[2]!.xdsAddress, 'default.r-2', { metadata: { authorization: `Bearer ${await tokenOf('r-2')}` }, credentials: tls() });
    t.after(() => {
      sotw.close();
      delta.close();
    });
    sotw.request(TYPE_URLS.endpoint, ['rollout-db']);
    sotw.ack(await sotw.expect(TYPE_URLS.endpoint, 5000), ['rollout-db']);
    delta.request({ type_url: TYPE_URLS.endpoint, subscribe: ['rollout-db'] });
    delta.ack(await delta.expect(TYPE_URLS.endpoint, 5000));
    const [id0, id1, id2] = await Promise.all(cps.map(idOf));

    const write = async (name: string, port: number): Promise<string> => {
      const response = await fetch(`${cps[0]!.apiUrl}/meshes/default/dataplanes/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(db(name, port)) });
      assert.equal(response.status, 201);
      return response.headers.get('x-skiff-rollout')!;
    };
    const rolloutAt = async (cp: RunningCp, id: string) => (await api(cp, 'GET', `/rollouts/${id}`)).json;

    // Both proxies get the change and hold their answers: the rollout is pending on two instances.
    const first = await write('rollout-db-1', 9301);
    const toSotw = await sotw.expect(TYPE_URLS.endpoint, 5000);
    const toDelta = await delta.expect(TYPE_URLS.endpoint, 5000);
    const pending = await until('both proxies pending, seen from the writer', async () => {
      const r = await rolloutAt(cps[0]!, first);
      return r.concerned === 2 && r.pending === 2 ? r : undefined;
    });
    assert.equal(pending.endTime, null);
    assert.deepEqual(pending.dataplanes.map((d: { name: string; instance: string }) => `${d.name}@${d.instance}`).sort(), [`r-1@${id1}`, `r-2@${id2}`]);
    assert.ok(!pending.dataplanes.some((d: { instance: string }) => d.instance === id0));
    sotw.ack(toSotw, ['rollout-db']);
    delta.ack(toDelta);
    const done = await until('both acknowledged', async () => {
      const r = await rolloutAt(cps[0]!, first);
      return r.endTime ? r : undefined;
    });
    assert.deepEqual([done.concerned, done.acknowledged, done.rejected, done.pending], [2, 2, 0, 0]);
    const fromOther = await rolloutAt(cps[1]!, first);
    assert.deepEqual([fromOther.concerned, fromOther.acknowledged, fromOther.startTime], [2, 2, done.startTime]);
    assert.ok((await api(cps[2]!, 'GET', '/rollouts?mesh=default')).json.items.some((r: { id: string; acknowledged: number }) => r.id === first && r.acknowledged === 2));

    // A NACK on cps[2] is reported, with its message, through cps[0].
    const second = await write('rollout-db-2', 9302);
    sotw.ack(await sotw.expect(TYPE_URLS.endpoint, 5000), ['rollout-db']);
    const refused = await delta.expect(TYPE_URLS.endpoint, 5000);
    delta.request({ type_url: TYPE_URLS.endpoint, response_nonce: refused.nonce, error_detail: 'endpoints refused by the test proxy' });
    const rejected = await until('the NACK seen from the writer', async () => {
      const r = await rolloutAt(cps[0]!, second);
      return r.endTime ? r : undefined;
    });
    assert.deepEqual([rejected.concerned, rejected.acknowledged, rejected.rejected], [2, 1, 1]);
    const nacked = rejected.dataplanes.find((d: { name: string }) => d.name === 'r-2');
    assert.equal(nacked.instance, id2);
    assert.match(nacked.error, /endpoints refused by the test proxy/);

    // skiffctl apply --wait through cps[0] follows the proxies on cps[1] and cps[2].
    const config = join(dirs[0]!, 'skiffctl-rollouts');
    assert.equal(spawnSync(process.execPath, [SKIFFCTL, '--config-file', config, 'config', 'control-planes', 'add', '--name', 'writer', '--address', cps[0]!.apiUrl], { encoding: 'utf8' }).status, 0);
    const child = spawn(process.execPath, [SKIFFCTL, '--config-file', config, 'apply', '-f', '-', '--wait', '--timeout', '10s'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.end(JSON.stringify(db('rollout-db-3', 9303)));
    const third = await sotw.expect(TYPE_URLS.endpoint, 5000);
    const thirdDelta = await delta.expect(TYPE_URLS.endpoint, 5000);
    await new Promise((r) => setTimeout(r, 500)); // apply --wait is following a pending rollout meanwhile
    sotw.ack(third, ['rollout-db']);
    delta.ack(thirdDelta);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /2\/2 proxies acknowledged/);
  });

  it('a proxy failing over to another instance and presenting the versions it holds receives nothing new, mTLS on', async (t) => {
    const mtls = { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] };
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/secure', { type: 'Mesh', name: 'secure', mtls })).status, 201);
    const inSecure = (name: string, service: string, port: number) => ({ ...dataplane(name, service, port), mesh: 'secure' });
    assert.equal((await api(cps[1]!, 'PUT', '/meshes/secure/dataplanes/api-1', inSecure('api-1', 'api', 8100))).status, 201);
    assert.equal((await api(cps[2]!, 'PUT', '/meshes/secure/dataplanes/backend-s1', inSecure('backend-s1', 'backend', 9100))).status, 201);
    const tokenResponse = await fetch(`${cps[2]!.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'api-1', mesh: 'secure' }) });
    assert.equal(tokenResponse.status, 200);
    const token = await tokenResponse.text();
    const secrets = ['identity_cert:secret:secure', 'mesh_ca:secret:secure'];

    // On cps[0]: what the proxy holds, resource by resource.
    const held = new Map<string, Record<string, string>>();
    const onA = new DeltaClient(cps[0]!.xdsAddress, 'secure.api-1', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
    t.after(() => onA.close());
    const fetchType = async (type: string, subscribe: string[] = []) => {
      onA.request({ type_url: type, subscribe });
      const response = await onA.expect(type, 20_000);
      onA.ack(response);
      held.set(type, Object.fromEntries(response.resources.map((r) => [r.name, r.version])));
      return response;
    };
    const clusters = await fetchType(TYPE_URLS.cluster);
    const edsNames = clusters.resources.map((r) => decodeResource(TYPE_URLS.cluster, r.resource.value)).filter((c) => c.type === 'EDS').map((c) => String(c.name));
    assert.ok(edsNames.includes('backend'));
    await fetchType(TYPE_URLS.endpoint, edsNames);
    await fetchType(TYPE_URLS.listener);
    const identity = await fetchType(TYPE_URLS.secret, secrets);
    assert.equal(identity.resources.length, 2, 'the identity and the trust bundle');
    onA.close();

    // The same proxy on cps[1] and cps[2], presenting those versions: no response of any type.
    for (const cp of [cps[1]!, cps[2]!]) {
      const onB = new DeltaClient(cp.xdsAddress, 'secure.api-1', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
      t.after(() => onB.close());
      for (const [type, versions] of held) {
        const subscribe = type === TYPE_URLS.endpoint ? edsNames : type === TYPE_URLS.secret ? secrets : [];
        onB.request({ type_url: type, subscribe, initial_resource_versions: versions });
      }
      await onB.inbox.silence(1500);
      assert.equal(onB.inbox.status, undefined, 'the stream is up');
      onB.close();
    }
  });

  it('a notification lost with the change feed connection is made up by the resync after it reconnects', async (t) => {
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/web-2', dataplane('web-2', 'web', 8082))).status, 201);
    const token = await fetch(`${cps[0]!.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-2', mesh: 'default' }) }).then((r) => r.text());
    const proxy = new SotwClient(cps[1]!.xdsAddress, 'default.web-2', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
    t.after(() => proxy.close());
    proxy.request(TYPE_URLS.endpoint, ['backend']);
    const first = await proxy.inbox.next(5000);
    const before = backendEndpoints(first.decoded)!;
    proxy.request(TYPE_URLS.endpoint, ['backend'], { version: first.version_info, nonce: first.nonce });

    // Cut cps[1]'s LISTEN connection and write through cps[0] before it is back (it waits 100 ms):
    // the notification of that write never reaches cps[1].
    const admin = new pg.Client({ host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password, database: pgOptions.dbName });
    await admin.connect();
    t.after(() => admin.end());
    const id = await idOf(cps[1]!);
    const cut = await admin.query('SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1', [`skiff-cp ${id} change-feed`]);
    assert.equal(cut.rowCount, 1, 'the change feed connection of the instance was found');
    assert.equal((await api(cps[0]!, 'PUT', '/meshes/default/dataplanes/backend-lost', dataplane('backend-lost', 'backend', 9500))).status, 201);

    let last = first;
    const deadline = Date.now() + 5000;
    while (backendEndpoints(last.decoded) !== before + 1) {
      assert.ok(Date.now() < deadline, 'the write made while the feed was down reached the proxy');
      last = await proxy.inbox.next(5000);
      proxy.request(TYPE_URLS.endpoint, ['backend'], { version: last.version_info, nonce: last.nonce });
    }
    assert.match(cps[1]!.output(), /change feed lost its connection/);
    const metrics = await fetch(`${cps[1]!.diagnosticsUrl}/metrics`).then((r) => r.text());
    assert.match(metrics, /^store_change_feed_reconnects [1-9]/m);
    assert.match(metrics, /^store_change_feed_connected 1/m);
    assert.match(metrics, /^leader [01]/m);
  });

  it('a new leader takes over within seconds of the old one being killed; followers can die without a change of leader', async (t) => {
    const leader = (await until('a leader', () => leaderOf(cps)))!;
    const ids = await Promise.all(cps.map(idOf));
    const leaderCp = cps[ids.indexOf(leader.id)]!;
    const followers = cps.filter((cp) => cp !== leaderCp);

    // A follower dies: the leader stays, the dead one leaves the list within a heartbeat period.
    const deadFollower = followers[1]!;
    const deadId = await idOf(deadFollower);
    const killedFollowerAt = Date.now();
    await deadFollower.kill();
    await until('the dead follower to leave the list', async () => ((await instancesSeenBy(leaderCp)).some((i) => i.id === deadId) ? undefined : true));
    assert.ok(Date.now() - killedFollowerAt <= HEARTBEAT_MS + 500, `left after ${Date.now() - killedFollowerAt} ms`);
    assert.equal((await leaderOf([leaderCp]))?.id, leader.id, 'the leader did not change');

    // A proxy on the leader: online as long as the leader lives, offline within a heartbeat period of its death.
    const survivor = followers[0]!;
    assert.equal((await api(survivor, 'PUT', '/meshes/default/dataplanes/web-9', dataplane('web-9', 'web', 8089))).status, 201);
    const token = await fetch(`${survivor.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-9', mesh: 'default' }) }).then((r) => r.text());
    const proxy = new SotwClient(leaderCp.xdsAddress, 'default.web-9', { metadata: { authorization: `Bearer ${token}` }, credentials: tls() });
    t.after(() => proxy.close());
    proxy.request(TYPE_URLS.cluster);
    await proxy.inbox.next(5000);
    const online = async () => ((await api(survivor, 'GET', '/meshes/default/dataplanes+insights/web-9')).json.online as boolean);
    await until('web-9 online as seen by another instance', async () => ((await online()) ? true : undefined));

    const killedAt = Date.now();
    await leaderCp.kill();
    const next = await until('a new leader', async () => {
      const l = (await instancesSeenBy(survivor)).find((i) => i.leader && i.id !== leader.id);
      return l;
    });
    const failoverMs = Date.now() - killedAt;
    console.log(`leader failover after kill -9: ${failoverMs} ms`);
    assert.equal(next.id, await idOf(survivor));
    assert.ok(failoverMs < 10_000);
    await until('web-9 offline', async () => ((await online()) ? undefined : true));
    const offlineMs = Date.now() - killedAt;
    console.log(`proxy of a killed instance read as offline after ${offlineMs} ms (heartbeat period ${HEARTBEAT_MS} ms)`);
    assert.ok(offlineMs <= HEARTBEAT_MS + 200, `offline after ${offlineMs} ms`);
    assert.match(survivor.output(), /this control plane is now the leader/);

    // Leader work resumes on the new leader: a new mesh gets its signing key from it.
    assert.equal((await api(survivor, 'PUT', '/meshes/demo', { type: 'Mesh', name: 'demo' })).status, 201);
    await until('the new mesh signing key', async () => {
      const names = (await api(survivor, 'GET', '/meshes/demo/secrets')).json.items.map((s: { name: string }) => s.name);
      return names.includes('dataplane-token-signing-key-demo-1') ? true : undefined;
    });
    cps = [survivor];

    // skiffctl shows the same list.
    const config = join(dirs[0]!, 'skiffctl-config');
    const skiffctl = (args: string[]) => spawnSync(process.execPath, [SKIFFCTL, '--config-file', config, ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    const add = skiffctl(['config', 'control-planes', 'add', '--name', 'survivor', '--address', survivor.apiUrl]);
    assert.equal(add.status, 0, add.stderr);
    const shown = skiffctl(['inspect', 'control-planes']);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /ID\s+ADDRESS\s+VERSION\s+LEADER\s+PROXIES/);
    assert.match(shown.stdout, new RegExp(`${next.id}\\s+\\S+\\s+\\S+\\s+yes`));
  });
});

describe('SQLite stays single-instance', () => {
  it('refuses a second skiff-cp on the same database file with a clear error', async () => {
    const wd = mkdtempSync(join(tmpdir(), 'skiff-sqlite-lock-'));
    const first = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
    try {
      await assert.rejects(startCpProcess({ KUMA_GENERAL_WORK_DIR: wd }), /is in use by another skiff-cp: SQLite serves one control plane per file/);
      await first.kill();
      // The lock goes with the process, however it ended.
      const again = await startCpProcess({ KUMA_GENERAL_WORK_DIR: wd });
      await again.stop();
    } finally {
      await first.kill();
      rmSync(wd, { recursive: true, force: true });
    }
  });
});

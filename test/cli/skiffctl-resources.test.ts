import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { parse as parseYaml } from 'yaml';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { startCpProcess, type RunningCp } from '../helpers/cp-process.js';

/**
 * skiffctl against a real skiff-cp (memory store), including every kumactl command of the
 * reference pages rewritten with skiffctl. The control plane is reached at 127.0.0.1, so the CLI
 * is a local admin, as on the control plane's machine in those pages.
 */
const SKIFFCTL = fileURLToPath(new URL('../../src/cli/skiffctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'skiffctl-res-'));
const config = join(dir, 'config');

function skiffctl(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return skiffctlWith(config, args, stdin);
}

function skiffctlWith(configFile: string, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SKIFFCTL, '--config-file', configFile, ...args], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function ok(args: string[], stdin?: string) {
  const r = await skiffctl(args, stdin);
  assert.equal(r.code, 0, `skiffctl ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

describe('skiffctl resource commands and the reference pages’ kumactl commands', () => {
  let cp: RunningCp;
  before(async () => {
    cp = await startCpProcess({ KUMA_STORE_TYPE: 'memory' });
    await ok(['config', 'control-planes', 'add', '--name', 'local', '--address', cp.apiUrl]);
  });
  after(async () => {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply -f - registers the Dataplanes of the overview page, get shows them aligned, delete removes', async () => {
    const redis = 'type: Dataplane\nmesh: default\nname: redis-1\nnetworking:\n  inbound:\n  - interface: 127.0.0.1:9000:6379\n    tags:\n      service: redis';
    assert.match(await ok(['apply', '-f', '-'], redis), /Dataplane default\/redis-1 created/);
    const backend = 'type: Dataplane\nmesh: default\nname: backend-1\nnetworking:\n  inbound:\n  - interface: 127.0.0.1:8000:80\n    tags:\n      service: backend\n  outbound:\n  - interface: :10000\n    service: redis';
    assert.match(await ok(['apply', '-f', '-'], backend), /created/);
    assert.match(await ok(['apply', '-f', '-'], backend), /updated/);
    const table = await ok(['get', 'dataplanes']);
    const lines = table.trim().split('\n');
    assert.match(lines[0]!, /^MESH\s+NAME\s+TAGS\s+AGE$/);
    assert.match(lines[1]!, /^default\s+backend-1\s+service=backend\s+\d+s$/);
    assert.equal(lines[0]!.indexOf('NAME'), lines[1]!.indexOf('backend-1'), 'columns are aligned');
    const one = parseYaml(await ok(['get', 'dataplane', 'redis-1', '-o', 'yaml'])) as Record<string, any>;
    assert.equal(one.networking.inbound[0].interface, '127.0.0.1:9000:6379');
    const all = JSON.parse(await ok(['get', 'meshes', '-o', 'json']));
    assert.deepEqual(all.items.map((m: { name: string }) => m.name), ['default']);
    assert.match(await ok(['delete', 'dataplane', 'backend-1']), /deleted Dataplane "backend-1"/);
    assert.equal((await skiffctl(['get', 'dataplane', 'backend-1'])).code, 1);
  });

  it('applies a Secret as the secrets page does, and several documents with progress', async () => {
    await ok(['apply', '-f', '-'], 'type: Secret\nmesh: default\nname: sample-secret\ndata: dGVzdAo=');
    assert.match(await ok(['get', 'secrets']), /default\s+sample-secret/);
    const many = ['m-1', 'm-2', 'm-3'].map((n) => `type: Mesh\nname: ${n}`).join('\n---\n');
    const r = await skiffctl(['apply', '-f', '-'], many);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /\[1\/3\] Mesh m-1[\s\S]*\[3\/3\] Mesh m-3/);
    const file = join(dir, 'tr.yaml');
    writeFileSync(file, 'type: TrafficRoute\nmesh: m-1\nname: r-1\nsources: [{match: {service: "*"}}]\ndestinations: [{match: {service: "*"}}]\nconf: [{weight: 1, destination: {service: backend}}]\n');
    assert.match(await ok(['apply', '-f', file, '--dry-run']), /would be created/);
    assert.equal((await skiffctl(['get', 'traffic-route', 'r-1', '--mesh', 'm-1'])).code, 1, 'dry run stored nothing');
    assert.match(await ok(['apply', '-f', file]), /TrafficRoute m-1\/r-1 created/);
    assert.match(await ok(['get', 'traffic-routes', '--mesh', 'm-1']), /m-1\s+r-1/);
  });

  it('walks the API-auth page: tokens, rotation with apply --var, revocation, deleting keys and the admin token', async () => {
    assert.match(await ok(['get', 'global-secrets']), /admin-user-token[\s\S]*user-token-signing-key-1/);
    const john = (await ok(['generate', 'user-token', '--name=john', '--group=team-a', '--valid-for=24h'])).trim();
    assert.equal(decodeJwt(john).Name, 'john');
    const key = (await ok(['generate', 'signing-key'])).trim();
    await ok(['apply', '--var', `key=${key}`, '-f', '-'], 'type: GlobalSecret\nname: user-token-signing-key-2\ndata: {{ key }}');
    const fresh = (await ok(['generate', 'user-token', '--name=john', '--group=team-a', '--valid-for=24h'])).trim();
    const revocations = Buffer.from(`${String(decodeJwt(john).jti)}\n`).toString('base64');
    await ok(['apply', '--var', `revocations=${revocations}`, '-f', '-'], 'type: GlobalSecret\nname: user-token-revocations\ndata: {{ revocations }}');
    const whoAmI = (token: string) => fetch(`${cp.apiUrl}/who-am-i`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    assert.equal(await whoAmI(john), 401, 'revoked');
    assert.equal(await whoAmI(fresh), 200);
    const rotated = await skiffctl(['delete', 'global-secret', 'user-token-signing-key-1']);
    assert.equal(rotated.code, 0);
    assert.match(rotated.stderr, /Warning: the admin token in global secret admin-user-token was signed by user-token-signing-key-1: it is no longer valid/);
    const deleteKey2 = await skiffctl(['delete', 'global-secret', 'user-token-revocations']);
    assert.equal(deleteKey2.stderr, '', 'no warning where nobody is locked out');
    await ok(['delete', 'global-secret', 'admin-user-token']);
    assert.doesNotMatch(await ok(['get', 'global-secrets']), /admin-user-token|user-token-signing-key-1\b/);
    const dp = (await ok(['generate', 'dataplane-token', '--name=dp-echo-1', '--mesh=default'])).trim();
    assert.equal(decodeJwt(dp).Name, 'dp-echo-1');
    assert.match(await ok(['version', '--detailed']), /Version:\s+\d+\.\d+\.\d+/);
  });

  it('inspects dataplanes and what one is served', async () => {
    const inspect = await ok(['inspect', 'dataplanes']);
    assert.match(inspect.split('\n')[0]!, /^MESH\s+NAME\s+TAGS\s+STATUS\s+LAST CONNECTED AT\s+UPDATES SENT\s+ACKED\s+NACKED\s+CERT EXPIRY$/);
    assert.match(inspect, /default\s+redis-1\s+service=redis\s+Offline\s+never\s+0\s+0\s+0/);
    const dump = JSON.parse(await ok(['inspect', 'dataplane', 'redis-1', '--type=config-dump']));
    assert.equal(dump.connected, false);
  });

  it('turns bad input into one clear line and a non-zero exit, never a stack trace', async () => {
    const cases: Array<[string[], string | undefined, number, RegExp]> = [
      [['get', 'widgets'], undefined, 2, /unknown resource type "widgets"/],
      [['apply', '-f', join(dir, 'missing.yaml')], undefined, 1, /cannot read .*missing\.yaml: ENOENT/],
      [['apply', '-f', '-'], 'type: Mesh\nname: [broken', 1, /not valid YAML/],
      [['apply', '-f', '-'], 'type: Gizmo\nname: x', 1, /unknown or missing type "Gizmo"/],
      [['apply', '-f', '-'], 'type: Mesh\nname: x\ndata: {{ nope }}', 2, /variable "nope" is used but not set/],
      [['apply', '-f', '-'], 'type: Dataplane\nmesh: default\nname: bad\nnetworking:\n  inbound:\n  - interface: nope\n    tags: {service: x}', 1, /could not apply Dataplane default\/bad: Could not process a resource: Resource is not valid\n  \* networking\.inbound\[0\]\.interface: invalid format/],
      [['delete', 'mesh', 'ghost'], undefined, 1, /could not delete Mesh "ghost": .*not found/],
      [['delete', 'mesh'], undefined, 2, /usage: skiffctl delete meshes NAME/],
      [['get', 'meshes', '-o', 'xml'], undefined, 2, /-o must be table, yaml or json/],
      [['inspect', 'dataplane', 'redis-1'], undefined, 2, /usage: skiffctl inspect/],
    ];
    for (const [args, stdin, code, message] of cases) {
      const r = await skiffctl(args, stdin);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    const down = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [SKIFFCTL, 'get', 'meshes'], { env: { PATH: process.env.PATH ?? '', SKIFFCTL_CONFIG: join(dir, 'none') } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    // With no control plane configured skiffctl talks to http://localhost:5681, where nothing listens here.
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^Error: cannot reach the control plane at http:\/\/localhost:5681/);
  });
});

describe('skiffctl delete warns before an admin lockout (localhost is not admin)', () => {
  let cp: RunningCp;
  const workDir = join(dir, 'lockout');
  const lockoutConfig = join(dir, 'lockout-config');
  const run = (args: string[], stdin?: string) => skiffctlWith(lockoutConfig, args, stdin);
  before(async () => {
    cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: workDir, KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN: 'false' });
    assert.equal((await fetch(`${cp.apiUrl}/global-secrets/admin-user-token`)).status, 401, 'localhost is really not admin here');
  });
  after(() => cp.stop());

  it('warns that deleting admin-user-token may lock everyone out, and names the token a deleted signing key invalidates', async () => {
    // Only an admin may read the admin token over the API: read it where the control plane keeps it.
    const store = new SqliteStore(join(workDir, 'skiff.db'));
    const token = Buffer.from(String((await store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }))!.spec.data), 'base64').toString();
    await store.close();
    assert.equal((await run(['config', 'control-planes', 'add', '--name', 'cp', '--address', cp.apiUrl, '--auth-type=tokens', '--auth-conf', `token=${token}`])).code, 0);

    const adminGone = await run(['delete', 'global-secret', 'admin-user-token']);
    assert.equal(adminGone.code, 0, adminGone.stderr);
    assert.match(adminGone.stderr, /Warning: localhost is not admin \(apiServer\.authn\.localhostIsAdmin: false\): unless you hold another admin user token or client certificate, nobody can administer/);

    const key = (await run(['generate', 'signing-key'])).stdout.trim();
    assert.equal((await run(['apply', '--var', `key=${key}`, '-f', '-'], 'type: GlobalSecret\nname: user-token-signing-key-2\ndata: {{ key }}')).code, 0);
    const rotated = await run(['delete', 'global-secret', 'user-token-signing-key-1']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stderr, /Warning: the user token this skiffctl sends was signed by user-token-signing-key-1: it is no longer valid/);
    assert.equal((await fetch(`${cp.apiUrl}/meshes`, { headers: { authorization: `Bearer ${token}` } })).status, 401, 'the warning was true');
  });
});

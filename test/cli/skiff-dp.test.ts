import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createServer } from 'node:net';
import { accessLogSocketPath, encodeLogName } from '../../src/xds/generators/traffic-log.js';
import { identifier, streamAccessLogs } from '../helpers/als-client.js';
import { startCpProcess, type RunningCp } from '../helpers/cp-process.js';

const SKIFF_DP = fileURLToPath(new URL('../../src/cli/skiff-dp.js', import.meta.url));
const FAKE_ENVOY = fileURLToPath(new URL('../../../test/fixtures/fake-envoy.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'skiff-dp-test-'));

function skiffDp(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [SKIFF_DP, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, done, output: () => ({ stdout, stderr }) };
}

function records(path: string): Array<Record<string, any>> {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

async function until<T>(read: () => T, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('skiff-dp run', () => {
  let cp: RunningCp;
  let workDir: string;
  let tokenFile: string;
  let common: string[];

  before(async () => {
    chmodSync(FAKE_ENVOY, 0o755);
    workDir = mkdtempSync(join(dir, 'cp-'));
    cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: workDir });
    const put = await fetch(`${cp.apiUrl}/meshes/default/dataplanes/web-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ networking: { address: '127.0.0.1', inbound: [{ port: 18080, servicePort: 8080, tags: { 'kuma.io/service': 'web' } }] } }),
    });
    assert.equal(put.status, 201);
    const token = await fetch(`${cp.apiUrl}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web-1', mesh: 'default' }) });
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, await token.text());
    common = ['run', '--cp-address', cp.apiHttpsUrl, '--ca-cert-file', join(workDir, 'certs', 'api-server.crt'), '--name', 'web-1', '--mesh', 'default', '--dataplane-token-file', tokenFile];
  });

  after(async () => {
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run prints the bootstrap fetched over verified HTTPS', async () => {
    const run = skiffDp([...common, '--dry-run', '--admin-port', '9901']);
    assert.equal(await run.done, 0, run.output().stderr);
    const doc = parseYaml(run.output().stdout) as Record<string, any>;
    assert.equal(doc.node.id, 'default.web-1');
    assert.equal(doc.admin.address.socket_address.port_value, 9901);
    assert.equal(doc.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].value, readFileSync(tokenFile, 'utf8').trim());
    const ads = doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepEqual(ads, { address: 'localhost', port_value: Number(cp.xdsAddress.split(':')[1]) }, 'the control plane xDS address');
  });

  it('runs Envoy with a private bootstrap file, restarts it when it dies, and forwards SIGTERM', async () => {
    const record = join(dir, 'envoy-record');
    const run = skiffDp([...common, '--envoy-binary', FAKE_ENVOY], { FAKE_ENVOY_RECORD: record, FAKE_ENVOY_FAIL_FIRST: '1' });
    const started = await until(() => records(record).filter((r) => r.event === 'start'), (s) => s.length >= 2);
    assert.equal(started.length, 2, `Envoy was restarted after its first exit: ${run.output().stderr}`);
    const first = started[0]!;
    assert.deepEqual(first.args.slice(0, 2), ['--config-path', first.configPath]);
    assert.equal(first.mode, 0o600, 'the bootstrap (it holds the token) is private');
    assert.equal((parseYaml(first.config) as Record<string, any>).node.id, 'default.web-1');
    run.child.kill('SIGTERM');
    assert.equal(await run.done, 0);
    assert.deepEqual(records(record).at(-1), { event: 'stop', signal: 'SIGTERM' });
    assert.ok(!existsSync(first.configPath), 'the temporary bootstrap is removed');
  });

  it('forwards Envoy’s access log stream from /tmp/kuma-al-{name}-{mesh}.sock to a TCP logging backend', async () => {
    let received = '';
    const backend = createServer((socket) => socket.on('data', (c) => (received += c.toString())));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const record = join(dir, 'envoy-record-als');
    const run = skiffDp([...common, '--envoy-binary', FAKE_ENVOY], { FAKE_ENVOY_RECORD: record });
    const socketPath = accessLogSocketPath('web-1', 'default');
    try {
      await until(() => records(record).length > 0 && existsSync(socketPath), (ok) => ok);
      assert.ok(existsSync(socketPath), `skiff-dp listens on ${socketPath}: ${run.output().stderr}`);
      const logName = encodeLogName(`127.0.0.1:${(backend.address() as { port: number }).port}`, 'web->backend %BYTES_SENT%\n');
      const status = await streamAccessLogs(socketPath, [
        { identifier: identifier(logName), tcp_logs: { log_entry: [{ common_properties: { upstream_cluster: 'backend' }, connection_properties: { sent_bytes: '42' } }] } },
      ]);
      assert.equal(status.code, 0, status.details);
      assert.equal(await until(() => received, (r) => r.includes('\n')), 'web->backend 42\n');
    } finally {
      run.child.kill('SIGTERM');
      assert.equal(await run.done, 0);
      backend.close();
    }
    assert.ok(!existsSync(socketPath), 'the socket is removed when skiff-dp stops');
  });

  it('exits non-zero with the control plane’s reason when it is refused', async () => {
    const badToken = join(dir, 'bad-token');
    writeFileSync(badToken, 'not-a-token');
    const refused = skiffDp([...common.slice(0, -1), badToken, '--dry-run']);
    assert.equal(await refused.done, 1);
    assert.match(refused.output().stderr, /refused the bootstrap: Unauthenticated: invalid dataplane token/);
    const unknown = skiffDp(['run', '--cp-address', cp.apiUrl, '--name', 'ghost', '--dataplane-token-file', tokenFile, '--dry-run']);
    assert.equal(await unknown.done, 1);
    assert.match(unknown.output().stderr, /Not Found: Dataplane "ghost" not found/);
    const untrusted = skiffDp(['run', '--cp-address', cp.apiHttpsUrl, '--name', 'web-1', '--dataplane-token-file', tokenFile, '--dry-run']);
    assert.equal(await untrusted.done, 1);
    assert.match(untrusted.output().stderr, /--ca-cert-file/);
    const noEnvoy = skiffDp([...common, '--envoy-binary', join(dir, 'no-such-envoy')]);
    assert.equal(await noEnvoy.done, 1);
    assert.match(noEnvoy.output().stderr, /Envoy binary .* not found/);
    const usage = skiffDp(['run', '--name', 'x']);
    assert.equal(await usage.done, 2);
  });
});

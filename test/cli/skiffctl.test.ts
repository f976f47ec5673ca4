import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startCpProcess } from '../helpers/cp-process.js';

const SKIFFCTL = fileURLToPath(new URL('../../src/cli/skiffctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'skiffctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs skiffctl with its own config file, asynchronously (the control plane shares this event loop's machine). */
function skiffctl(args: string[], configFile = join(dir, 'config')): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SKIFFCTL, '--config-file', configFile, ...args], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** GET as a remote client would (a non-loopback Host header), with a bearer token. */
function whoAmI(apiUrl: string, token: string): Promise<{ status: number; body: { name?: string; groups?: string[] } }> {
  const url = new URL('/who-am-i', apiUrl);
  return new Promise((resolve, reject) => {
    http
      .get({ host: url.hostname, port: url.port, path: url.pathname, headers: { host: 'cp.example', authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
      })
      .on('error', reject);
  });
}

describe('skiffctl', () => {
  it('offline issuing: a key pair from skiffctl, the public key in the control plane, tokens signed without it', async () => {
    const keyPath = join(dir, 'key-private.pem');
    const privatePem = await skiffctl(['generate', 'signing-key', '--format=pem']);
    assert.equal(privatePem.code, 0, privatePem.stderr);
    assert.match(privatePem.stdout, /^-----BEGIN RSA PRIVATE KEY-----/);
    writeFileSync(keyPath, privatePem.stdout);
    const publicPem = await skiffctl(['generate', 'public-key', '--signing-key-path', keyPath]);
    assert.match(publicPem.stdout, /^-----BEGIN RSA PUBLIC KEY-----/);
    const base64 = await skiffctl(['generate', 'signing-key']);
    assert.match(Buffer.from(base64.stdout.trim(), 'base64').toString(), /^-----BEGIN RSA PRIVATE KEY-----/, 'default format is base64 PEM, ready for a secret');

    const cp = await startCpProcess({
      KUMA_GENERAL_WORK_DIR: mkdtempSync(join(dir, 'offline-')),
      KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER: 'false',
      KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS: 'false',
      KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_PUBLIC_KEYS: JSON.stringify([{ kid: 'key-1', key: publicPem.stdout }]),
    });
    try {
      const token = await skiffctl(['generate', 'user-token', '--name', 'john.doe@example.com', '--group', 'users', '--valid-for', '24h', '--signing-key-path', keyPath, '--kid', 'key-1']);
      assert.equal(token.code, 0, token.stderr);
      assert.equal(decodeProtectedHeader(token.stdout.trim()).kid, 'key-1');
      const who = await whoAmI(cp.apiUrl, token.stdout.trim());
      assert.equal(who.status, 200);
      assert.deepEqual(who.body, { name: 'john.doe@example.com', groups: ['users', 'mesh-system:authenticated'] });
    } finally {
      await cp.stop();
    }
  });

  it('online: adds a control plane over verified HTTPS and has it issue a token for john', async () => {
    const workDir = mkdtempSync(join(dir, 'online-'));
    const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: workDir });
    try {
      const secret = (await (await fetch(`${cp.apiUrl}/global-secrets/admin-user-token`)).json()) as { data: string };
      const admin = Buffer.from(secret.data, 'base64').toString();
      const ca = join(workDir, 'certs', 'api-server.crt');
      const configFile = join(dir, 'online-config');

      const unverified = await skiffctl(['config', 'control-planes', 'add', '--name', 'cp', '--address', cp.apiHttpsUrl, '--auth-type=tokens', '--auth-conf', `token=${admin}`], configFile);
      assert.equal(unverified.code, 1);
      assert.match(unverified.stderr, /--ca-cert-file/);

      const added = await skiffctl(['config', 'control-planes', 'add', '--name', 'cp', '--address', cp.apiHttpsUrl, '--auth-type=tokens', '--auth-conf', `token=${admin}`, '--ca-cert-file', ca], configFile);
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /switched active Control Plane to "cp"/);
      assert.equal(statSync(configFile).mode & 0o777, 0o600, 'the config holds tokens: owner only');
      assert.equal((await skiffctl(['config', 'control-planes', 'add', '--name', 'cp', '--address', cp.apiUrl], configFile)).code, 1, 'no silent overwrite');

      const john = await skiffctl(['generate', 'user-token', '--name', 'john', '--group', 'team-a', '--valid-for', '24h'], configFile);
      assert.equal(john.code, 0, john.stderr);
      const claims = decodeJwt(john.stdout.trim());
      assert.equal(claims.Name, 'john');
      assert.deepEqual(claims.Groups, ['team-a']);
      assert.equal((await whoAmI(cp.apiUrl, john.stdout.trim())).body.name, 'john');

      // John may not issue tokens: the control plane's refusal reaches the user.
      const johnConfig = join(dir, 'john-config');
      assert.equal((await skiffctl(['config', 'control-planes', 'add', '--name', 'cp', '--address', cp.apiHttpsUrl, '--skip-verify', '--auth-type=tokens', '--auth-conf', `token=${john.stdout.trim()}`], johnConfig)).code, 0);
      const denied = await skiffctl(['generate', 'user-token', '--name', 'x', '--valid-for', '1h'], johnConfig);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /Access Denied: .*generateUserToken/);
      const dpToken = await skiffctl(['generate', 'dataplane-token', '--name', 'web-1', '--mesh', 'default', '--tag', 'kuma.io/service=web', '--tag', 'kuma.io/service=web-api', '--valid-for', '1h'], configFile);
      assert.equal(dpToken.code, 0, dpToken.stderr);
      const dpClaims = decodeJwt(dpToken.stdout.trim());
      assert.deepEqual([dpClaims.Name, dpClaims.Mesh, dpClaims.Tags], ['web-1', 'default', { 'kuma.io/service': ['web', 'web-api'] }]);
      const noMesh = await skiffctl(['generate', 'dataplane-token', '--name', 'web-1', '--mesh', 'ghost'], configFile);
      assert.equal(noMesh.code, 1);
      assert.match(noMesh.stderr, /mesh: mesh of name "ghost" is not found/);
      const list = await skiffctl(['config', 'control-planes', 'list'], johnConfig);
      assert.match(list.stdout, /\*\s+cp\s+https:\/\/127\.0\.0\.1/);
    } finally {
      await cp.stop();
    }
  });

  it('generates client and server TLS certificates', async () => {
    for (const type of ['client', 'server'] as const) {
      const certFile = join(dir, `${type}.crt`);
      const keyFile = join(dir, `${type}.key`);
      const result = await skiffctl(['generate', 'tls-certificate', `--type=${type}`, '--cert-file', certFile, '--key-file', keyFile, '--cp-hostname', 'cp.example']);
      assert.equal(result.code, 0, result.stderr);
      const cert = new X509Certificate(readFileSync(certFile));
      assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(keyFile))));
      if (type === 'server') assert.match(cert.subjectAltName ?? '', /DNS:cp\.example/);
      else assert.equal(cert.subjectAltName, undefined);
    }
  });

  it('explains usage errors with exit code 2', async () => {
    assert.equal((await skiffctl(['generate', 'user-token', '--valid-for', '1h'])).code, 2);
    assert.equal((await skiffctl(['generate', 'tls-certificate', '--type=peer', '--cert-file', 'a', '--key-file', 'b'])).code, 2);
    assert.equal((await skiffctl(['frobnicate'])).code, 2);
    assert.match((await skiffctl(['--help'])).stdout, /config control-planes/);
    for (const command of [['apply'], ['get'], ['delete'], ['inspect'], ['version'], ['config', 'control-planes'], ['generate', 'user-token'], ['generate', 'dataplane-token'], ['generate', 'signing-key'], ['generate', 'public-key'], ['generate', 'tls-certificate']]) {
      const help = await skiffctl([...command, '--help']);
      assert.equal(help.code, 0, command.join(' '));
      assert.match(help.stdout, /Usage:/, command.join(' '));
    }
  });

  it('switches between and removes control planes', async () => {
    const configFile = join(dir, 'switch-config');
    const cp = await startCpProcess({ KUMA_GENERAL_WORK_DIR: mkdtempSync(join(dir, 'switch-')) });
    try {
      for (const name of ['one', 'two']) assert.equal((await skiffctl(['config', 'control-planes', 'add', '--name', name, '--address', cp.apiUrl], configFile)).code, 0);
      assert.match((await skiffctl(['config', 'control-planes', 'list'], configFile)).stdout, /\*\s+two/);
      assert.match((await skiffctl(['config', 'control-planes', 'switch', '--name', 'one'], configFile)).stdout, /switched active Control Plane to "one"/);
      assert.match((await skiffctl(['config', 'control-planes', 'list'], configFile)).stdout, /\*\s+one/);
      assert.equal((await skiffctl(['config', 'control-planes', 'switch', '--name', 'nine'], configFile)).code, 1);
      assert.match((await skiffctl(['config', 'control-planes', 'remove', '--name', 'one'], configFile)).stdout, /removed Control Plane "one"/);
      const list = (await skiffctl(['config', 'control-planes', 'list'], configFile)).stdout;
      assert.doesNotMatch(list, /\bone\b/);
      assert.match(list, /\*\s+two/, 'the remaining one becomes current');
    } finally {
      await cp.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { signToken } from '../../src/auth/jwt.js';
import { generateSigningKeyPem, publicKeyPemOf } from '../../src/auth/signing-keys.js';
import { connect } from 'node:net';
import { buildApi } from '../helpers/api.js';
import { startTestControlPlane } from '../helpers/control-plane.js';
import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { pino } from 'pino';

/**
 * The procedures of Kuma's "Authentication with the API server" page, in order, and an attack
 * table. Requests from "another machine" use a non-loopback peer address and Host header.
 */

const REMOTE = { remoteAddress: '10.1.2.3', headers: { host: 'cp.example:5681' } };
const LOCAL = { remoteAddress: '127.0.0.1', headers: { host: 'localhost:5681' } };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

type Who = typeof REMOTE;
async function call(app: FastifyInstance, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, from: Who, token?: string, body?: unknown, extraHeaders: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...from.headers, ...extraHeaders };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await app.inject({ method, url, headers, remoteAddress: from.remoteAddress, payload: body === undefined ? undefined : JSON.stringify(body) });
  return response;
}

async function adminToken(app: FastifyInstance): Promise<string> {
  const secret = await call(app, 'GET', '/global-secrets/admin-user-token', LOCAL);
  assert.equal(secret.statusCode, 200);
  return Buffer.from(secret.json().data, 'base64').toString('utf8');
}

async function issue(app: FastifyInstance, token: string, name: string, groups: string[], validFor = '24h'): Promise<string> {
  const response = await call(app, 'POST', '/tokens/user', REMOTE, token, { name, groups, validFor });
  assert.equal(response.statusCode, 200, response.body);
  assert.match(String(response.headers['content-type']), /^text\/plain/);
  return response.body;
}

async function setup(t: TestContext, env: Record<string, string> = {}) {
  return buildApi(t, env);
}

describe('API authentication procedures (Kuma’s reference page)', () => {
  it('the bootstrap admin token, read from localhost, makes a remote caller admin', async (t) => {
    const { app } = await setup(t);
    const token = await adminToken(app);
    assert.deepEqual(decodeJwt(token).Groups, ['mesh-system:admin']);
    assert.equal(decodeProtectedHeader(token).kid, '1');
    const who = await call(app, 'GET', '/who-am-i', REMOTE, token);
    assert.deepEqual(who.json(), { name: 'mesh-system:admin', groups: ['mesh-system:admin', 'mesh-system:authenticated'] });
    assert.equal((await call(app, 'GET', '/global-secrets', REMOTE, token)).statusCode, 200);
  });

  it('a remote caller without a token: public endpoints only', async (t) => {
    const { app } = await setup(t);
    assert.equal((await call(app, 'GET', '/', REMOTE)).statusCode, 200);
    assert.equal((await call(app, 'GET', '/config', REMOTE)).statusCode, 200, 'viewConfigDump includes unauthenticated users by default');
    assert.deepEqual((await call(app, 'GET', '/who-am-i', REMOTE)).json(), { name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] });
    for (const url of ['/meshes', '/meshes/default/dataplanes', '/global-secrets/admin-user-token']) {
      const r = await call(app, 'GET', url, REMOTE);
      assert.equal(r.statusCode, 401, url);
      assert.equal(r.json().title, 'Unauthenticated');
    }
  });

  it('generates a token for john in team-a, who may read but not administer', async (t) => {
    const { app } = await setup(t);
    const john = await issue(app, await adminToken(app), 'john', ['team-a']);
    assert.deepEqual((await call(app, 'GET', '/who-am-i', REMOTE, john)).json(), { name: 'john', groups: ['team-a', 'mesh-system:authenticated'] });
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, john)).statusCode, 200);
    const put = await call(app, 'PUT', '/meshes/m-1', REMOTE, john, {});
    assert.equal(put.statusCode, 403);
    assert.match(put.json().details, /"adminResources" permission/);
    assert.equal((await call(app, 'GET', '/global-secrets', REMOTE, john)).statusCode, 403);
    const mint = await call(app, 'POST', '/tokens/user', REMOTE, john, { name: 'x', groups: ['mesh-system:admin'], validFor: '1h' });
    assert.equal(mint.statusCode, 403);
    assert.match(mint.json().details, /generateUserToken/);
  });

  it('revokes a token by its jti (the secret as `echo jti | base64` writes it)', async (t) => {
    const { app } = await setup(t);
    const admin = await adminToken(app);
    const john = await issue(app, admin, 'john', ['team-a']);
    const other = await issue(app, admin, 'jane', ['team-a']);
    const jti = String(decodeJwt(john).jti);
    assert.equal((await call(app, 'PUT', '/global-secrets/user-token-revocations', REMOTE, admin, { type: 'GlobalSecret', name: 'user-token-revocations', data: b64(`${jti}\n`) })).statusCode, 201);
    const denied = await call(app, 'GET', '/meshes', REMOTE, john);
    assert.equal(denied.statusCode, 401);
    assert.match(denied.json().details, /revoked/);
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, other)).statusCode, 200);
  });

  it('rotates the signing key: both valid during the rotation, only the new one after the old key is deleted', async (t) => {
    const { app } = await setup(t);
    const admin = await adminToken(app);
    const old = await issue(app, admin, 'john', ['team-a']);
    assert.equal((await call(app, 'PUT', '/global-secrets/user-token-signing-key-2', REMOTE, admin, { type: 'GlobalSecret', data: b64(generateSigningKeyPem()) })).statusCode, 201);
    const fresh = await issue(app, admin, 'john', ['team-a']);
    assert.equal(decodeProtectedHeader(fresh).kid, '2', 'the highest serial signs');
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, old)).statusCode, 200);
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, fresh)).statusCode, 200);
    const newAdmin = await issue(app, admin, 'ops', ['mesh-system:admin']);
    assert.equal((await call(app, 'DELETE', '/global-secrets/user-token-signing-key-1', REMOTE, newAdmin)).statusCode, 200);
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, old)).statusCode, 401);
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, admin)).statusCode, 401, 'the bootstrap admin token was signed by key 1 too');
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, fresh)).statusCode, 200);
  });

  it('disables the admin token: deleted, it is not recreated; with bootstrapAdminToken=false it never exists', async (t) => {
    const { app, store, userTokens } = await setup(t);
    assert.equal((await call(app, 'DELETE', '/global-secrets/admin-user-token', LOCAL)).statusCode, 200);
    await userTokens.bootstrap(); // what the next start does
    assert.equal(await store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }), undefined);
    const { store: other } = await setup(t, { KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN: 'false' });
    assert.equal(await other.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }), undefined);
    assert.ok(await other.get({ type: 'GlobalSecret', mesh: '', name: 'user-token-signing-key-1' }), 'the signing key is still created');
  });

  it('issues offline: public key configured, issuer and secrets off, any RS256 issuer with Name and Groups works', async (t) => {
    const privatePem = generateSigningKeyPem();
    const publicPem = publicKeyPemOf(privatePem);
    assert.match(publicPem, /^-----BEGIN RSA PUBLIC KEY-----/);
    const { app, store } = await setup(t, {
      KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER: 'false',
      KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS: 'false',
      KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_PUBLIC_KEYS: JSON.stringify([{ kid: 'key-1', key: publicPem }]),
    });
    assert.equal(await store.get({ type: 'GlobalSecret', mesh: '', name: 'user-token-signing-key-1' }), undefined, 'no key is generated');
    const refused = await call(app, 'POST', '/tokens/user', LOCAL, undefined, { name: 'john', groups: [], validFor: '1h' });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.json().details, /enableIssuer: false/);
    const offline = await signToken({ Name: 'john.doe@example.com', Groups: ['users'] }, createPrivateKey(privatePem), 'key-1', 3600);
    assert.deepEqual((await call(app, 'GET', '/who-am-i', REMOTE, offline)).json(), { name: 'john.doe@example.com', groups: ['users', 'mesh-system:authenticated'] });
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, offline)).statusCode, 200);
    // An SPKI public key works the same.
    const spki = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { app: app2 } = await setup(t, {
      KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_PUBLIC_KEYS: JSON.stringify([{ kid: 'spki', key: spki.publicKey.export({ type: 'spki', format: 'pem' }) }]),
    });
    const viaSpki = await new SignJWT({ Name: 'ext', Groups: [] }).setProtectedHeader({ alg: 'RS256', kid: 'spki' }).setJti(randomUUID()).setIssuedAt().setExpirationTime('1h').sign(spki.privateKey);
    assert.equal((await call(app2, 'GET', '/meshes', REMOTE, viaSpki)).statusCode, 200);
  });

  it('with localhostIsAdmin=false a local caller is anonymous too', async (t) => {
    const { app } = await setup(t, { KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN: 'false' });
    assert.equal((await call(app, 'GET', '/meshes', LOCAL)).statusCode, 401);
    assert.equal((await call(app, 'PUT', '/meshes/m-1', LOCAL, undefined, {})).statusCode, 401);
  });

  it('grants permissions from access.static to named users and groups', async (t) => {
    const { app } = await setup(t, { KUMA_ACCESS_STATIC_GENERATE_USER_TOKEN_USERS: 'john', KUMA_ACCESS_STATIC_ADMIN_RESOURCES_GROUPS: 'mesh-system:admin,ops' });
    const admin = await adminToken(app);
    const john = await issue(app, admin, 'john', []);
    assert.equal((await call(app, 'POST', '/tokens/user', REMOTE, john, { name: 'x', groups: [], validFor: '1h' })).statusCode, 200);
    const op = await issue(app, admin, 'olga', ['ops']);
    assert.equal((await call(app, 'PUT', '/meshes/m-1', REMOTE, op, {})).statusCode, 201);
    assert.equal((await call(app, 'PUT', '/meshes/m-2', REMOTE, john, {})).statusCode, 403);
  });

  it('caps validFor at apiServer.authn.tokens.maxValidFor', async (t) => {
    const { app } = await setup(t, { KUMA_API_SERVER_AUTHN_TOKENS_MAX_VALID_FOR: '24h' });
    assert.equal((await call(app, 'POST', '/tokens/user', LOCAL, undefined, { name: 'a', groups: [], validFor: '24h' })).statusCode, 200);
    const tooLong = await call(app, 'POST', '/tokens/user', LOCAL, undefined, { name: 'a', groups: [], validFor: '25h' });
    assert.equal(tooLong.statusCode, 400);
    assert.match(tooLong.json().causes[0].message, /at most 24h/);
  });

  it('checks the /tokens/user request', async (t) => {
    const { app } = await setup(t);
    for (const [body, field] of [
      [{ groups: [], validFor: '1h' }, 'name'],
      [{ name: 'a', groups: 'team-a', validFor: '1h' }, 'groups'],
      [{ name: 'a', groups: [] }, 'validFor'],
      [{ name: 'a', groups: [], validFor: 'soon' }, 'validFor'],
    ] as const) {
      const r = await call(app, 'POST', '/tokens/user', LOCAL, undefined, body);
      assert.equal(r.statusCode, 400, JSON.stringify(body));
      assert.equal(r.json().causes[0].field, field);
    }
  });
});

describe('secrets never reach the log', () => {
  it('logs no signing key, token or secret value at debug level through a token lifecycle', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _e, done) { lines.push(chunk.toString()); done(); } });
    const { app, store } = await buildApi(t, {}, pino({ level: 'debug' }, sink));
    const admin = await adminToken(app);
    const john = await issue(app, admin, 'john', ['team-a']);
    await call(app, 'GET', '/meshes', REMOTE, john);
    await call(app, 'GET', '/meshes', REMOTE, `${john}tampered`);
    await call(app, 'GET', '/meshes', REMOTE, 'x'.repeat(20_000));
    await call(app, 'PUT', '/global-secrets/user-token-signing-key-2', REMOTE, admin, { data: b64(generateSigningKeyPem()) });
    const log = lines.join('');
    assert.ok(lines.length > 5, 'requests were logged');
    const key = Buffer.from(String((await store.get({ type: 'GlobalSecret', mesh: '', name: 'user-token-signing-key-1' }))!.spec.data), 'base64').toString();
    const keyBody = key.split('\n')[1]!;
    for (const [what, secret] of [['admin token', admin], ['john token', john], ['signing key', keyBody], ['signing key (base64)', b64(key).slice(0, 60)]] as const) {
      assert.ok(!log.includes(secret.slice(0, 60)), `the log contains the ${what}`);
    }
  });
});

describe('API authentication attack table', () => {
  it('rejects every forged, expired, revoked or misplaced credential with 401, never 5xx', async (t) => {
    const { app, store } = await setup(t);
    const admin = await adminToken(app);
    const keySecret = await store.get({ type: 'GlobalSecret', mesh: '', name: 'user-token-signing-key-1' });
    const userKey = createPrivateKey(Buffer.from(String(keySecret!.spec.data), 'base64').toString());
    const publicPem = publicKeyPemOf(Buffer.from(String(keySecret!.spec.data), 'base64').toString());
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const claims = { Name: 'mallory', Groups: ['mesh-system:admin'] };
    const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: '1' }, key = userKey) =>
      new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
    const full = (extra: Record<string, unknown> = {}) => ({ ...claims, jti: randomUUID(), iat: now - 5, nbf: now - 5, exp: now + 3600, ...extra });
    const unsigned = (alg: string) => `${b64url({ alg, kid: '1', typ: 'JWT' })}.${b64url(full())}.`;
    const hs256 = (() => {
      const head = `${b64url({ alg: 'HS256', kid: '1', typ: 'JWT' })}.${b64url(full())}`;
      return `${head}.${createHmac('sha256', publicPem).update(head).digest('base64url')}`;
    })();
    const tampered = (() => {
      const [h, , s] = admin.split('.');
      return `${h}.${b64url({ ...decodeJwt(admin), Name: 'mallory' })}.${s}`;
    })();
    const revokedToken = await sign(full({ jti: 'revoked-one' }));
    await store.create({ type: 'GlobalSecret', mesh: '', name: 'user-token-revocations', spec: { data: b64('revoked-one') } });
    const { publicKey: attackerPublic } = attacker;
    const attackerJwk = attackerPublic.export({ format: 'jwk' });

    const tokens: Array<[string, string]> = [
      ['alg none', unsigned('none')],
      ['alg None', unsigned('None')],
      ['alg noNE', unsigned('noNE')],
      ['HS256 signed with the public key as secret', hs256],
      ['unknown kid', await sign(full(), { alg: 'RS256', kid: '99' })],
      ['missing kid', await sign(full(), { alg: 'RS256' })],
      ['kid with a path', await sign(full(), { alg: 'RS256', kid: '../1' })],
      ['missing exp', await sign({ ...claims, jti: randomUUID(), iat: now })],
      ['expired', await sign(full({ exp: now - 60, iat: now - 120, nbf: now - 120 }))],
      ['nbf in the future', await sign(full({ nbf: now + 600 }))],
      ['missing jti', await sign({ ...claims, iat: now, exp: now + 60 })],
      ['missing iat', await sign({ ...claims, jti: randomUUID(), exp: now + 60 })],
      ['tampered payload', tampered],
      ['revoked jti', revokedToken],
      ['signed by another key under our kid', await sign(full(), { alg: 'RS256', kid: '1' }, attacker.privateKey)],
      ['embedded jwk header with the attacker key', await sign(full(), { alg: 'RS256', kid: '1', jwk: attackerJwk }, attacker.privateKey)],
      ['jku header pointing elsewhere', await sign(full(), { alg: 'RS256', kid: '1', jku: 'https://attacker.example/keys' }, attacker.privateKey)],
      ['Groups not a list', await sign(full({ Groups: 'mesh-system:admin' }))],
      ['Name missing', await sign({ Groups: ['mesh-system:admin'], jti: randomUUID(), iat: now, exp: now + 60 })],
      ['a dataplane token (Mesh claim)', await sign(full({ Mesh: 'default', Type: 'dataplane' }))],
      ['garbage', 'not-a-jwt'],
      ['20 KB token', 'a'.repeat(20 * 1024)],
      ['three dots', 'a.b.c.d'],
    ];
    for (const [name, token] of tokens) {
      const r = await call(app, 'GET', '/meshes', REMOTE, token);
      assert.equal(r.statusCode, 401, `${name}: ${r.body}`);
      const body = r.json();
      assert.equal(body.title, 'Unauthenticated', name);
      assert.ok(!r.body.includes(token.slice(0, 40)) || token.length < 12, `${name}: the token is echoed`);
    }

    const headerCases: Array<[string, Who, Record<string, string>]> = [
      ['empty bearer', REMOTE, { authorization: 'Bearer ' }],
      ['basic auth', REMOTE, { authorization: 'Basic YWRtaW46YWRtaW4=' }],
      ['X-Forwarded-For 127.0.0.1 from a remote peer', REMOTE, { 'x-forwarded-for': '127.0.0.1' }],
      ['remote peer claiming Host localhost', { remoteAddress: '10.1.2.3', headers: { host: 'localhost:5681' } }, {}],
      ['local peer behind a proxy (X-Forwarded-For)', LOCAL, { 'x-forwarded-for': '203.0.113.9' }],
      ['local peer behind a proxy (Forwarded)', LOCAL, { forwarded: 'for=203.0.113.9' }],
      ['local peer, X-Real-IP', LOCAL, { 'x-real-ip': '203.0.113.9' }],
      ['local peer, foreign Host (DNS rebinding)', { remoteAddress: '127.0.0.1', headers: { host: 'evil.example' } }, {}],
      ['local peer, cross-site browser request', LOCAL, { 'sec-fetch-site': 'cross-site' }],
      ['local peer, foreign Origin', LOCAL, { origin: 'https://evil.example' }],
      ['local peer, null Origin', LOCAL, { origin: 'null' }],
      ['local peer, same host and port but https Origin on the HTTP port', LOCAL, { origin: `https://${LOCAL.headers.host}` }],
    ];
    for (const [name, from, headers] of headerCases) {
      const r = await call(app, 'GET', '/global-secrets/admin-user-token', from, undefined, undefined, headers);
      assert.equal(r.statusCode, 401, `${name}: ${r.body}`);
      assert.equal(typeof r.json().details, 'string');
    }
    assert.ok(tokens.length + headerCases.length >= 20);

    // Sanity: the same request with the real token, or from a real local caller, succeeds.
    assert.equal((await call(app, 'GET', '/meshes', REMOTE, admin)).statusCode, 200);
    assert.equal((await call(app, 'GET', '/global-secrets/admin-user-token', LOCAL, undefined, undefined, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:5681' })).statusCode, 200);
  });
});

describe('Host header over a real socket', () => {
  const raw = (port: number, request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(request));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });

  it('refuses a request with two Host headers (RFC 9112) instead of reading the first', async (t) => {
    const cp = await startTestControlPlane(t);
    for (const port of [cp.cp.apiPort, cp.cp.tokenServerPort!]) {
      const path = port === cp.cp.apiPort ? 'GET /global-secrets/admin-user-token' : 'POST /tokens';
      const twoHosts = await raw(port, `${path} HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      assert.match(twoHosts, /^HTTP\/1\.1 400/, twoHosts);
      assert.match(twoHosts, /more than one Host header/);
    }
    const one = await raw(cp.cp.apiPort, 'GET /global-secrets/admin-user-token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.match(one, /^HTTP\/1\.1 200/);
  });
});

import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { authenticated, ecIssuerWithCertificate, fakeApiServer, legacyToken, projectedToken, rsaIssuer, unsignedToken, uidOf, type Issuer } from '../helpers/kubernetes.js';

interface Answer {
  status: number;
  body: any;
  text: string;
}

/** A real HTTP request (any method, LIST included) to the control plane's API. */
function call(cp: TestControlPlane, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port: cp.cp.apiPort, path, method, headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const web = { namespace: 'shop', name: 'web' };
const dataplane = (service: string) => ({ networking: { address: '10.0.0.1', inbound: [{ port: 80, tags: { 'kuma.io/service': service } }] } });

async function controlPlane(t: Parameters<typeof startTestControlPlane>[0], env: Record<string, string> = {}) {
  const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken', ...env });
  assert.equal(await cp.put('/meshes/default/dataplanes/web-1', dataplane('web')), 201);
  assert.equal(await cp.put('/meshes/default/dataplanes/backend-1', dataplane('backend')), 201);
  return cp;
}

/** Opens an ADS stream as `nodeId` presenting `credential`; resolves "served" or the status that ended it. */
async function stream(cp: TestControlPlane, nodeId: string, credential: string) {
  const client = new SotwClient(cp.xdsAddress, nodeId, { metadata: { authorization: `Bearer ${credential}` } });
  client.request(TYPE_URLS.cluster);
  try {
    return await Promise.race([client.expect(TYPE_URLS.cluster).then(() => 'served' as const), client.inbox.closed()]);
  } finally {
    client.close();
  }
}

async function configureKeys(cp: TestControlPlane, ...issuers: Issuer[]) {
  const r = await call(cp, 'POST', '/auth/kubernetes/config', { kubernetes_host: 'https://192.168.99.100:8443', pem_keys: issuers.map((i) => i.pem) });
  assert.equal(r.status, 204, r.text);
}

async function role(cp: TestControlPlane, name: string, body: Record<string, unknown>) {
  const r = await call(cp, 'POST', `/auth/kubernetes/role/${name}`, body);
  assert.ok(r.status === 204 || r.status === 200, r.text);
}

describe('Kubernetes auth: the reference page’s requests and responses', () => {
  it('configures the method, manages roles (create, read, LIST, ?list=true, delete) and logs in', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    const api = await fakeApiServer(() => ({ status: 500, body: {} }));
    t.after(() => api.server.close());

    // Configure method: the sample payload (its CA and pem_keys with real PEM text).
    const sampleConfig = { kubernetes_host: 'https://192.168.99.100:8443', kubernetes_ca_cert: api.caPem, pem_keys: issuer.pem, token_reviewer_jwt: 'reviewer-secret-jwt' };
    // As the sample's `curl --data @payload.json` sends it: JSON under the form content type.
    const configured = await call(cp, 'POST', '/auth/kubernetes/config', sampleConfig, { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(configured.status, 204, configured.text);

    // Read config: the sample response's fields, credentials excluded.
    const read = await call(cp, 'GET', '/auth/kubernetes/config');
    assert.equal(read.status, 200);
    assert.equal(read.body.data.kubernetes_host, 'https://192.168.99.100:8443');
    assert.equal(read.body.data.kubernetes_ca_cert, api.caPem);
    assert.deepEqual(read.body.data.pem_keys, [issuer.pem]);
    assert.equal(read.body.data.disable_local_ca_jwt, false);
    assert.equal(read.body.data.token_reviewer_jwt, undefined);
    assert.equal(read.body.data.token_reviewer_jwt_set, true);
    assert.ok(!read.text.includes('reviewer-secret-jwt'), 'reading the config never returns the reviewer JWT');

    // Create role: the sample payload (string lists, deprecated policies/max_ttl).
    const created = await call(cp, 'POST', '/auth/kubernetes/role/dev-role', { bound_service_account_names: 'vault-auth', bound_service_account_namespaces: 'default', policies: ['dev', 'prod'], max_ttl: 1800000 });
    assert.equal(created.status, 200, created.text);
    assert.match(created.body.warnings[0], /does not specify an audience/);

    // Read role: the sample response.
    const got = await call(cp, 'GET', '/auth/kubernetes/role/dev-role');
    assert.equal(got.status, 200);
    const sample = { bound_service_account_names: ['vault-auth'], bound_service_account_namespaces: ['default'], max_ttl: 1800000, ttl: 0, period: 0, policies: ['dev', 'prod'] };
    for (const [key, value] of Object.entries(sample)) assert.deepEqual(got.body.data[key], value, key);
    assert.equal(got.body.data.token_max_ttl, 1800000);

    // List roles: LIST and GET ?list=true give the sample's keys.
    await role(cp, 'prod-role', { bound_service_account_names: ['vault-auth'], bound_service_account_namespaces: ['prod'], audience: 'vault' });
    for (const [method, path] of [['LIST', '/auth/kubernetes/role'], ['GET', '/auth/kubernetes/role?list=true'], ['LIST', '/v1/auth/kubernetes/role']] as const) {
      const listed = await call(cp, method, path);
      assert.equal(listed.status, 200, `${method} ${path}: ${listed.text}`);
      assert.deepEqual(listed.body.data, { keys: ['dev-role', 'prod-role'] });
    }

    // Delete role.
    assert.equal((await call(cp, 'DELETE', '/auth/kubernetes/role/dev-role')).status, 204);
    assert.equal((await call(cp, 'GET', '/auth/kubernetes/role/dev-role')).status, 404);

    // Login: the sample's auth envelope.
    await role(cp, 'test', { bound_service_account_names: 'vault-auth', bound_service_account_namespaces: 'default', service: 'web' });
    const vaultAuth = { namespace: 'default', name: 'vault-auth', uid: 'aa9aa8ff-98d0-11e7-9bb7-0800276d99bf' };
    const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'test', jwt: await legacyToken(issuer, vaultAuth) }, { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(login.status, 200, login.text);
    const auth = login.body.auth;
    assert.deepEqual(auth.policies, ['default']);
    assert.deepEqual(auth.metadata, { role: 'test', service_account_name: 'vault-auth', service_account_namespace: 'default', service_account_secret_name: 'vault-auth-token-x7k2p', service_account_uid: 'aa9aa8ff-98d0-11e7-9bb7-0800276d99bf' });
    assert.equal(auth.lease_duration, 2764800);
    assert.equal(auth.renewable, false, 'a dataplane token is a JWT and cannot be renewed');
    assert.equal(typeof auth.accessor, 'string');
    assert.equal(decodeJwt(auth.client_token).jti, auth.accessor, 'the accessor is the token id that revocations list');
    assert.equal(api.requests.length, 0, 'with pem_keys the token is verified locally');
  });
});

describe('Kubernetes auth: login', () => {
  it('exchanges legacy (RSA key) and projected (ECDSA certificate) tokens for dataplane tokens that work on xDS', async (t) => {
    const cp = await controlPlane(t);
    const rsa = await rsaIssuer();
    const ec = await ecIssuerWithCertificate();
    await configureKeys(cp, rsa, ec);
    await role(cp, 'web', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], service: '{{service_account_name}}', token_ttl: '1h', token_policies: 'mesh-web' });

    for (const jwt of [await legacyToken(rsa, web), await projectedToken(ec, web)]) {
      const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
      assert.equal(login.status, 200, login.text);
      const token = login.body.auth.client_token as string;
      const claims = decodeJwt(token);
      assert.equal(claims.Mesh, 'default');
      assert.deepEqual(claims.Tags, { 'kuma.io/service': ['web'] });
      assert.ok(Math.abs(Number(claims.exp) - Number(claims.iat) - 3600) <= 10, 'token_ttl is the token lifetime');
      assert.equal(login.body.auth.lease_duration, 3600);
      assert.deepEqual(login.body.auth.policies, ['default', 'mesh-web']);
      assert.equal(login.body.auth.metadata.service_account_uid, uidOf(web));
      assert.equal(await stream(cp, 'default.web-1', token), 'served', 'the dataplane token admits web-1');
      const other = await stream(cp, 'default.backend-1', token);
      assert.equal(other !== 'served' && other.code, grpcStatus.PERMISSION_DENIED, 'and not a dataplane of another service');
    }
  });

  it('refuses with a clear 4xx reason', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    const stranger = await rsaIssuer();
    await configureKeys(cp, issuer);
    await role(cp, 'web', { bound_service_account_names: ['web', 'web-*'], bound_service_account_namespaces: ['shop'], audience: 'skiff' });
    await role(cp, 'lan-only', { bound_service_account_names: ['*'], bound_service_account_namespaces: ['*'], token_bound_cidrs: ['10.0.0.0/8'] });
    const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
      ['wrong namespace', { role: 'web', jwt: await projectedToken(issuer, { namespace: 'billing', name: 'web' }, { audience: ['skiff'] }) }, 403, /namespace not authorized/],
      ['wrong service account', { role: 'web', jwt: await projectedToken(issuer, { namespace: 'shop', name: 'admin' }, { audience: ['skiff'] }) }, 403, /service account name not authorized/],
      ['wrong audience', { role: 'web', jwt: await projectedToken(issuer, web, { audience: ['vault'] }) }, 403, /invalid audience \(aud\) claim/],
      ['no audience (legacy token, role wants one)', { role: 'web', jwt: await legacyToken(issuer, web) }, 403, /invalid audience/],
      ['expired', { role: 'web', jwt: await projectedToken(issuer, web, { audience: ['skiff'], expiresInS: -60 }) }, 403, /expired/],
      ['bad signature', { role: 'web', jwt: await projectedToken(stranger, web, { audience: ['skiff'] }) }, 403, /signature does not verify/],
      ['alg none', { role: 'web', jwt: unsignedToken(web) }, 403, /alg "none"|not a compact JWS/],
      ['tampered payload', { role: 'web', jwt: (await projectedToken(issuer, web, { audience: ['skiff'] })).replace(/\.([^.]+)\./, (_m, p: string) => `.${Buffer.from(Buffer.from(p, 'base64url').toString().replace('"shop"', '"shoq"')).toString('base64url')}.`) }, 403, /signature does not verify/],
      ['caller outside token_bound_cidrs', { role: 'lan-only', jwt: await legacyToken(issuer, web) }, 403, /not in the role's token_bound_cidrs/],
      ['unknown role', { role: 'nope', jwt: await legacyToken(issuer, web) }, 400, /invalid role name "nope"/],
      ['missing role', { jwt: await legacyToken(issuer, web) }, 400, /missing role/],
      ['missing jwt', { role: 'web' }, 400, /missing jwt/],
      ['garbage jwt', { role: 'web', jwt: 'not-a-jwt' }, 403, /not a compact JWS/],
    ];
    for (const [what, body, status, reason] of cases) {
      const r = await call(cp, 'POST', '/auth/kubernetes/login', body);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.match(r.body.details, reason, what);
      assert.ok(Array.isArray(r.body.errors) && r.body.errors[0] === r.body.details, `${what}: Vault's errors list`);
      assert.ok(typeof body.jwt !== 'string' || !r.text.includes(body.jwt), `${what}: the token is never echoed`);
    }
    // The glob binding admits a matching name.
    const ok = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt: await projectedToken(issuer, { namespace: 'shop', name: 'web-canary' }, { audience: ['skiff'] }) });
    assert.equal(ok.status, 200, ok.text);
  });

  it('verifies through TokenReview when there are no pem_keys, with the reviewer JWT and the configured CA', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    let verdict: 'ok' | 'denied' | 'unauthorized' = 'ok';
    const api = await fakeApiServer((r) => {
      if (r.authorization !== 'Bearer reviewer-jwt') return { status: 401, body: { kind: 'Status', status: 'Failure', reason: 'Unauthorized' } };
      if (verdict === 'unauthorized') return { status: 403, body: { kind: 'Status', status: 'Failure' } };
      return verdict === 'ok' ? { status: 201, body: authenticated(web) } : { status: 201, body: { kind: 'TokenReview', status: { authenticated: false, error: '' } } };
    });
    t.after(() => api.server.close());
    assert.equal((await call(cp, 'POST', '/auth/kubernetes/config', { kubernetes_host: api.url, kubernetes_ca_cert: api.caPem, token_reviewer_jwt: 'reviewer-jwt' })).status, 204);
    await role(cp, 'web', { bound_service_account_names: 'web', bound_service_account_namespaces: 'shop', audience: 'skiff', service: 'web' });

    const jwt = await projectedToken(issuer, web, { audience: ['skiff'] });
    const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
    assert.equal(login.status, 200, login.text);
    assert.equal(api.requests.length, 1);
    const review = api.requests[0]!;
    assert.equal(review.path, 'POST /apis/authentication.k8s.io/v1/tokenreviews');
    assert.equal(review.authorization, 'Bearer reviewer-jwt', 'the reviewer JWT is the bearer');
    assert.deepEqual(review.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: jwt, audiences: ['skiff'] } });
    assert.equal(await stream(cp, 'default.web-1', login.body.auth.client_token), 'served');

    verdict = 'denied';
    const denied = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
    assert.equal(denied.status, 403);
    assert.match(denied.body.details, /service account jwt not valid/);

    verdict = 'unauthorized';
    const refused = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
    assert.equal(refused.status, 403);
    assert.match(refused.body.details, /refused the TokenReview \(403\)/);

    // A TokenReview endpoint whose certificate the configured CA does not vouch for: refused, never skipped.
    const impostor = await fakeApiServer(() => ({ status: 201, body: authenticated(web) }));
    t.after(() => impostor.server.close());
    assert.equal((await call(cp, 'POST', '/auth/kubernetes/config', { kubernetes_host: impostor.url, kubernetes_ca_cert: api.caPem, token_reviewer_jwt: 'reviewer-jwt' })).status, 204);
    const tls = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
    assert.equal(tls.status, 403);
    assert.match(tls.body.details, /TokenReview request to https:\/\/127\.0\.0\.1:\d+ failed: .*(self-signed|certificate)/i);
    assert.equal(impostor.requests.length, 0, 'no token was sent to the unverified server');

    // Without a reviewer JWT, the login's own JWT is the bearer (Vault's behaviour).
    assert.equal((await call(cp, 'POST', '/auth/kubernetes/config', { kubernetes_host: api.url, kubernetes_ca_cert: api.caPem })).status, 204);
    verdict = 'ok';
    const own = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt });
    assert.equal(own.status, 403, 'the fake API server only accepts the reviewer JWT');
    assert.equal(api.requests.at(-1)!.authorization, `Bearer ${jwt}`);
  });
});

describe('Kubernetes auth: configuration and roles', () => {
  it('refuses invalid configuration and role parameters with field-level causes', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    const configs: Array<[Record<string, unknown>, string]> = [
      [{ pem_keys: [issuer.pem] }, 'kubernetes_host'],
      [{ kubernetes_host: 'http://10.0.0.1:6443', pem_keys: [issuer.pem] }, 'kubernetes_host'],
      [{ kubernetes_host: 'k8s:6443', pem_keys: ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'] }, 'pem_keys[0]'],
      [{ kubernetes_host: 'k8s:6443', pem_keys: ['not pem'] }, 'pem_keys[0]'],
      [{ kubernetes_host: 'k8s:6443', kubernetes_ca_cert: 'junk' }, 'kubernetes_ca_cert'],
      [{ kubernetes_host: 'k8s:6443' }, 'kubernetes_ca_cert'],
      [{ kubernetes_host: 'k8s:6443', pem_keys: [issuer.pem], disable_iss_validation: 'maybe' }, 'disable_iss_validation'],
      [{ kubernetes_host: 'k8s:6443', pem_keys: [issuer.pem], kubernetes_hots: 'typo' }, 'kubernetes_hots'],
    ];
    for (const [body, field] of configs) {
      const r = await call(cp, 'POST', '/auth/kubernetes/config', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(r.body.causes.some((c: { field: string }) => c.field === field), `${JSON.stringify(body)} → ${r.text}`);
    }
    assert.equal((await call(cp, 'GET', '/auth/kubernetes/config')).status, 404, 'nothing was stored');

    const base = { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'] };
    const roles: Array<[Record<string, unknown>, string]> = [
      [{ bound_service_account_namespaces: ['shop'] }, 'bound_service_account_names'],
      [{ ...base, bound_service_account_names: ['*', 'web'] }, 'bound_service_account_names'],
      [{ bound_service_account_names: ['web'] }, 'bound_service_account_namespaces'],
      [{ ...base, bound_service_account_namespaces: ['*', 'shop'] }, 'bound_service_account_namespaces'],
      [{ ...base, token_bound_cidrs: ['10.0.0.0/33'] }, 'token_bound_cidrs[0]'],
      [{ ...base, token_num_uses: 3 }, 'token_num_uses'],
      [{ ...base, token_type: 'default-batch' }, 'token_type'],
      [{ ...base, token_ttl: '2h', token_max_ttl: '1h' }, 'token_ttl'],
      [{ ...base, token_ttl: 'soon' }, 'token_ttl'],
      [{ ...base, alias_name_source: 'pod' }, 'alias_name_source'],
      [{ ...base, mesh: 'Not A Mesh' }, 'mesh'],
      [{ ...base, service: '{{pod_ip}}' }, 'service'],
      [{ ...base, policies: ['a'], token_policies: ['b'] }, 'policies'],
      [{ ...base, bound_namespaces: ['x'] }, 'bound_namespaces'],
    ];
    for (const [body, field] of roles) {
      const r = await call(cp, 'POST', '/auth/kubernetes/role/r1', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(r.body.causes.some((c: { field: string }) => c.field === field), `${JSON.stringify(body)} → ${r.text}`);
    }
    assert.equal((await call(cp, 'GET', '/auth/kubernetes/role/r1')).status, 404, 'no invalid role was stored');
    const badName = await call(cp, 'POST', '/auth/kubernetes/role/has%20space', base);
    assert.equal(badName.status, 400);
  });

  it('updates only the fields given, and role names are case-insensitive', async (t) => {
    const cp = await controlPlane(t);
    await role(cp, 'Web', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], audience: 'skiff', token_ttl: 60 });
    await role(cp, 'web', { token_ttl: 120 });
    const got = await call(cp, 'GET', '/auth/kubernetes/role/WEB');
    assert.equal(got.status, 200);
    assert.deepEqual([got.body.data.bound_service_account_names, got.body.data.audience, got.body.data.token_ttl], [['web'], 'skiff', 120]);
  });

  it('is for admins only, while login is open', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    await configureKeys(cp, issuer);
    await role(cp, 'web', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], service: 'web' });
    const john = await call(cp, 'POST', '/tokens/user', { name: 'john', groups: ['team-a'], validFor: '1h' });
    assert.equal(john.status, 200);
    const asJohn = { authorization: `Bearer ${john.text}` };
    const remote = { host: 'cp.example.com' }; // not a local caller: anonymous
    for (const [method, path, body] of [['GET', '/auth/kubernetes/config'], ['POST', '/auth/kubernetes/config', { kubernetes_host: 'x:1', pem_keys: [issuer.pem] }], ['POST', '/auth/kubernetes/role/x', { bound_service_account_names: 'a', bound_service_account_namespaces: 'b' }], ['GET', '/auth/kubernetes/role/web'], ['DELETE', '/auth/kubernetes/role/web'], ['LIST', '/auth/kubernetes/role']] as const) {
      assert.equal((await call(cp, method, path, body, asJohn)).status, 403, `${method} ${path} as john`);
      assert.equal((await call(cp, method, path, body, remote)).status, 401, `${method} ${path} anonymous`);
    }
    const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt: await legacyToken(issuer, web) }, remote);
    assert.equal(login.status, 200, login.text);
  });
});

describe('Kubernetes auth: dpServer.authn.dpProxy.type serviceAccountToken', () => {
  it('admits a stream presenting a service-account JWT by the roles of its mesh', async (t) => {
    const cp = await controlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'serviceAccountToken' });
    const issuer = await rsaIssuer();
    await configureKeys(cp, issuer);
    await role(cp, 'web', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], service: '{{service_account_name}}' });
    await role(cp, 'lan', { bound_service_account_names: ['lan'], bound_service_account_namespaces: ['shop'], token_bound_cidrs: ['10.0.0.0/8'] });

    assert.equal(await stream(cp, 'default.web-1', await projectedToken(issuer, web)), 'served');
    const wrongService = await stream(cp, 'default.backend-1', await projectedToken(issuer, web));
    assert.equal(wrongService !== 'served' && wrongService.code, grpcStatus.PERMISSION_DENIED);
    const unbound = await stream(cp, 'default.web-1', await projectedToken(issuer, { namespace: 'shop', name: 'intruder' }));
    assert.equal(unbound !== 'served' && unbound.code, grpcStatus.UNAUTHENTICATED);
    const forged = await stream(cp, 'default.web-1', await projectedToken(await rsaIssuer(), web));
    assert.equal(forged !== 'served' && forged.code, grpcStatus.UNAUTHENTICATED);
    const outside = await stream(cp, 'default.web-1', await projectedToken(issuer, { namespace: 'shop', name: 'lan' }));
    assert.equal(outside !== 'served' && outside.code, grpcStatus.UNAUTHENTICATED, 'the stream comes from 127.0.0.1, outside the role’s CIDRs');
    if (outside !== 'served') assert.match(outside.details, /token_bound_cidrs/);

    // A dataplane token from a login works here too, and so does POST /bootstrap with the JWT.
    const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'web', jwt: await legacyToken(issuer, web) });
    assert.equal(await stream(cp, 'default.web-1', login.body.auth.client_token), 'served');
    const boot = await call(cp, 'POST', '/bootstrap', { mesh: 'default', name: 'web-1', dataplaneToken: await projectedToken(issuer, web) });
    assert.equal(boot.status, 200, boot.text);
    const refused = await call(cp, 'POST', '/bootstrap', { mesh: 'default', name: 'backend-1', dataplaneToken: await projectedToken(issuer, web) });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.body.details, /service account token does not admit default\.backend-1/);
  });

  it('binds login tokens to token_bound_cidrs: an xDS stream from outside them is refused', async (t) => {
    const cp = await controlPlane(t);
    const issuer = await rsaIssuer();
    await configureKeys(cp, issuer);
    await role(cp, 'local', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], token_bound_cidrs: '127.0.0.0/8' });
    const login = await call(cp, 'POST', '/auth/kubernetes/login', { role: 'local', jwt: await legacyToken(issuer, web) });
    assert.equal(login.status, 200, login.text);
    assert.deepEqual(decodeJwt(login.body.auth.client_token).BoundCIDRs, ['127.0.0.0/8']);
    assert.equal(await stream(cp, 'default.web-1', login.body.auth.client_token), 'served', 'the stream comes from 127.0.0.1');
    await role(cp, 'elsewhere', { bound_service_account_names: ['web'], bound_service_account_namespaces: ['shop'], token_bound_cidrs: ['127.0.0.0/8'] });
    // A token bound elsewhere (issued by hand with the same claim shape) is refused from here.
    const { DataplaneTokens } = await import('../../src/auth/dataplane-tokens.js');
    const remoteOnly = await new DataplaneTokens(cp.cp.store).issue({ mesh: 'default', boundCidrs: ['10.0.0.0/8'] }, 3600);
    const refused = await stream(cp, 'default.web-1', remoteOnly);
    assert.equal(refused !== 'served' && refused.code, grpcStatus.PERMISSION_DENIED);
  });
});

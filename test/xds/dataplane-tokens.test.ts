import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

const dp = (address: string, service: string) => ({ networking: { address, inbound: [{ port: 80, tags: { 'kuma.io/service': service } }] } });

async function post(cp: TestControlPlane, path: string, body: unknown, port = cp.cp.apiPort, host?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...(host ? { host } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

async function tokenFor(cp: TestControlPlane, body: Record<string, unknown>): Promise<string> {
  const r = await post(cp, '/tokens/dataplane', body);
  assert.equal(r.status, 200, r.body);
  return r.body;
}

/** Opens a stream as `nodeId` with `options`; resolves with the CDS response, or the status that ended the stream. */
async function attempt(cp: TestControlPlane, nodeId: string, options: ConstructorParameters<typeof SotwClient>[2]) {
  const client = new SotwClient(cp.xdsAddress, nodeId, options);
  client.request(TYPE_URLS.cluster);
  const outcome = await Promise.race([client.expect(TYPE_URLS.cluster).then(() => 'served' as const), client.inbox.closed().then((s) => s)]);
  return { client, outcome };
}

async function meshWithTokens(t: Parameters<typeof startTestControlPlane>[0]) {
  const cp = await startTestControlPlane(t, { KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'dpToken' });
  await cp.put('/meshes/other', {});
  await cp.put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web'));
  await cp.put('/meshes/default/dataplanes/web-2', dp('10.0.0.2', 'web'));
  await cp.put('/meshes/default/dataplanes/backend-1', dp('10.0.0.3', 'backend'));
  return cp;
}

describe('dataplane tokens', () => {
  it('are issued by POST /tokens/dataplane and the legacy localhost server, in Kuma’s format', async (t) => {
    const cp = await meshWithTokens(t);
    const token = await tokenFor(cp, { name: 'web-1', mesh: 'default', tags: { 'kuma.io/service': ['web'] } });
    const claims = decodeJwt(token);
    assert.equal(claims.Name, 'web-1');
    assert.equal(claims.Mesh, 'default');
    assert.equal(claims.Type, 'dataplane');
    assert.deepEqual(claims.Tags, { 'kuma.io/service': ['web'] });
    assert.equal(typeof claims.jti, 'string');
    assert.ok(Number(claims.exp) - Date.now() / 1000 > 9 * 365 * 24 * 3600, 'an empty validFor means ten years');
    assert.equal(decodeProtectedHeader(token).kid, '1');
    assert.ok(await cp.cp.store.get({ type: 'Secret', mesh: 'default', name: 'dataplane-token-signing-key-default-1' }));

    const short = decodeJwt(await tokenFor(cp, { name: 'web-1', mesh: 'default', validFor: '1h' }));
    assert.ok(Number(short.exp) - Date.now() / 1000 < 3700);
    for (const [body, field] of [[{ name: 'x' }, 'mesh'], [{ name: 'x', mesh: 'ghost' }, 'mesh'], [{ mesh: 'default', tags: { s: 'web' } }, 'tags'], [{ mesh: 'default', validFor: 'soon' }, 'validFor']] as const) {
      const r = await post(cp, '/tokens/dataplane', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(JSON.parse(r.body).causes[0].field, field);
    }
    assert.equal((await post(cp, '/tokens/dataplane', { mesh: 'default' }, cp.cp.apiPort, 'cp.example')).status, 401, 'a remote anonymous caller');

    const legacy = await post(cp, '/tokens', { name: 'web-1', mesh: 'default' }, cp.cp.tokenServerPort);
    assert.equal(legacy.status, 200);
    assert.equal(decodeJwt(legacy.body).Name, 'web-1');
    assert.equal((await post(cp, '/tokens', { name: 'web-1', mesh: 'default' }, cp.cp.tokenServerPort, 'evil.example')).status, 401);
  });

  it('admit only the dataplane (or tags) they name, with UNAUTHENTICATED or PERMISSION_DENIED otherwise', async (t) => {
    const cp = await meshWithTokens(t);
    const web1 = await tokenFor(cp, { name: 'web-1', mesh: 'default' });
    const webTag = await tokenFor(cp, { mesh: 'default', tags: { 'kuma.io/service': ['web'] } });
    const otherMesh = await tokenFor(cp, { name: 'web-1', mesh: 'other' });
    const adminUser = Buffer.from(String((await cp.cp.store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }))!.spec.data), 'base64').toString();

    const cases: Array<[string, string, ConstructorParameters<typeof SotwClient>[2], 'served' | status]> = [
      ['Bearer token in gRPC metadata', 'default.web-1', { metadata: { authorization: `Bearer ${web1}` } }, 'served'],
      ['raw token, as Kuma’s bootstrap sends it', 'default.web-1', { metadata: { authorization: web1 } }, 'served'],
      ['token in node metadata (proxyless)', 'default.web-1', { nodeMetadata: { 'dataplane.token': web1 } }, 'served'],
      ['tag-bound token, first dataplane of the service', 'default.web-1', { metadata: { authorization: `Bearer ${webTag}` } }, 'served'],
      ['tag-bound token, second dataplane of the service', 'default.web-2', { metadata: { authorization: `Bearer ${webTag}` } }, 'served'],
      ['no token', 'default.web-1', {}, status.UNAUTHENTICATED],
      ['another dataplane’s token', 'default.backend-1', { metadata: { authorization: `Bearer ${web1}` } }, status.PERMISSION_DENIED],
      ['tag-bound token, another service', 'default.backend-1', { metadata: { authorization: `Bearer ${webTag}` } }, status.PERMISSION_DENIED],
      ['a token of another mesh', 'default.web-1', { metadata: { authorization: `Bearer ${otherMesh}` } }, status.UNAUTHENTICATED],
      ['a user token', 'default.web-1', { metadata: { authorization: `Bearer ${adminUser}` } }, status.UNAUTHENTICATED],
      ['garbage', 'default.web-1', { metadata: { authorization: 'Bearer nonsense' } }, status.UNAUTHENTICATED],
    ];
    for (const [name, node, options, expected] of cases) {
      const { client, outcome } = await attempt(cp, node, options);
      client.close();
      assert.equal(typeof outcome === 'string' ? outcome : outcome.code, expected, name);
      if (typeof outcome !== 'string') assert.ok(!outcome.details.includes(web1.slice(0, 30)), `${name}: the token is echoed`);
    }
    // Refused proxies leave no insight behind.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(await cp.cp.store.get({ type: 'DataplaneInsight', mesh: 'default', name: 'backend-1' }), undefined);
  });

  it('revoking a token, or deleting its key, ends the streams it admitted within seconds', async (t) => {
    const cp = await meshWithTokens(t);
    const web1 = await tokenFor(cp, { name: 'web-1', mesh: 'default' });
    const web2 = await tokenFor(cp, { name: 'web-2', mesh: 'default' });
    const first = await attempt(cp, 'default.web-1', { metadata: { authorization: `Bearer ${web1}` } });
    const second = await attempt(cp, 'default.web-2', { metadata: { authorization: `Bearer ${web2}` } });
    t.after(() => {
      first.client.close();
      second.client.close();
    });
    assert.equal(first.outcome, 'served');
    assert.equal(second.outcome, 'served');

    const started = Date.now();
    const jti = String(decodeJwt(web1).jti);
    assert.equal(await cp.put('/meshes/default/secrets/dataplane-token-revocations-default', { data: Buffer.from(jti).toString('base64') }), 201);
    const ended = await first.client.inbox.closed(3000);
    assert.equal(ended.code, status.UNAUTHENTICATED);
    assert.match(ended.details, /revoked/);
    assert.ok(Date.now() - started < 3000);
    await second.client.inbox.silence(300); // web-2's token is untouched
    assert.equal(second.client.inbox.status, undefined);

    assert.equal(await cp.put('/meshes/default/secrets/dataplane-token-signing-key-default-2', { data: Buffer.from((await import('../../src/auth/signing-keys.js')).generateSigningKeyPem()).toString('base64') }), 201);
    assert.equal(await cp.del('/meshes/default/secrets/dataplane-token-signing-key-default-1'), 200);
    assert.equal((await second.client.inbox.closed(3000)).code, status.UNAUTHENTICATED);
  });
});

describe('dataplane token lifecycle at connect time', () => {
  it('a legacy 5679 token connects; revoked, deleted-key and rotated tokens behave as Kuma documents', async (t) => {
    const cp = await meshWithTokens(t);
    const legacy = await post(cp, '/tokens', { name: 'web-1', mesh: 'default' }, cp.cp.tokenServerPort);
    const viaLegacy = await attempt(cp, 'default.web-1', { metadata: { authorization: `Bearer ${legacy.body}` } });
    viaLegacy.client.close();
    assert.equal(viaLegacy.outcome, 'served');

    const old = await tokenFor(cp, { name: 'web-1', mesh: 'default' });
    const revoked = await tokenFor(cp, { name: 'web-2', mesh: 'default' });
    await cp.put('/meshes/default/secrets/dataplane-token-revocations-default', { data: Buffer.from(`${decodeJwt(revoked).jti}\n`).toString('base64') });
    const refusedRevoked = await attempt(cp, 'default.web-2', { metadata: { authorization: `Bearer ${revoked}` } });
    refusedRevoked.client.close();
    assert.equal(typeof refusedRevoked.outcome === 'string' ? refusedRevoked.outcome : refusedRevoked.outcome.code, status.UNAUTHENTICATED);

    // Rotation: a second key signs new tokens; old ones work until key 1 is deleted.
    const { generateSigningKeyPem } = await import('../../src/auth/signing-keys.js');
    assert.equal(await cp.put('/meshes/default/secrets/dataplane-token-signing-key-default-2', { data: Buffer.from(generateSigningKeyPem()).toString('base64') }), 201);
    const fresh = await tokenFor(cp, { name: 'web-1', mesh: 'default' });
    assert.equal(decodeProtectedHeader(fresh).kid, '2');
    for (const token of [old, fresh]) {
      const a = await attempt(cp, 'default.web-1', { metadata: { authorization: `Bearer ${token}` } });
      a.client.close();
      assert.equal(a.outcome, 'served');
    }
    assert.equal(await cp.del('/meshes/default/secrets/dataplane-token-signing-key-default-1'), 200);
    const oldAfter = await attempt(cp, 'default.web-1', { metadata: { authorization: `Bearer ${old}` } });
    oldAfter.client.close();
    assert.equal(typeof oldAfter.outcome === 'string' ? oldAfter.outcome : oldAfter.outcome.code, status.UNAUTHENTICATED, 'signed by a deleted key');
    const freshAfter = await attempt(cp, 'default.web-1', { metadata: { authorization: `Bearer ${fresh}` } });
    freshAfter.client.close();
    assert.equal(freshAfter.outcome, 'served');

    // A dataplane token is not a user token either.
    const api = await fetch(`${cp.api}/meshes`, { headers: { authorization: `Bearer ${fresh}`, host: 'cp.example' } });
    assert.equal(api.status, 401);
  });
});

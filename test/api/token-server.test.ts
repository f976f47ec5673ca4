import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { startTestControlPlane } from '../helpers/control-plane.js';

const adminToken = async (cp: Awaited<ReturnType<typeof startTestControlPlane>>) =>
  Buffer.from(String((await cp.cp.store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' }))!.spec.data), 'base64').toString();

const tokens = (port: number, init: RequestInit) => fetch(`http://127.0.0.1:${port}/tokens`, { method: 'POST', ...init });

describe('legacy dataplane-token server (5679)', () => {
  it('answers Kuma’s documented curl call (JSON under curl’s form content type) while localhost is admin', async (t) => {
    const cp = await startTestControlPlane(t);
    // curl -XPOST :5679/tokens --data '{"name": "dp-echo-1", "mesh": "default"}'
    const r = await tokens(cp.cp.tokenServerPort!, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"name": "dp-echo-1", "mesh": "default"}' });
    assert.equal(r.status, 200);
    assert.equal(decodeJwt(await r.text()).Name, 'dp-echo-1');
    const notJson = await tokens(cp.cp.tokenServerPort!, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=dp-echo-1&mesh=default' });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { details: string }).details, /JSON/);
    // A page in a browser is never a local admin, whatever it posts.
    const crossOrigin = await tokens(cp.cp.tokenServerPort!, { headers: { 'content-type': 'text/plain', origin: 'http://evil.example' }, body: '{"mesh": "default"}' });
    assert.equal(crossOrigin.status, 401);
  });

  it('needs a user token with generateDpToken when localhost is not admin, as the API does', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN: 'false' });
    const port = cp.cp.tokenServerPort!;
    const body = JSON.stringify({ name: 'web-1', mesh: 'default' });
    const json = { 'content-type': 'application/json' };

    const anonymous = await tokens(port, { headers: json, body });
    assert.equal(anonymous.status, 401, 'a local process without a user token gets nothing');
    assert.equal(((await anonymous.json()) as { status: number }).status, 401);

    const admin = await adminToken(cp);
    const viewer = await fetch(`${cp.api}/tokens/user`, { method: 'POST', headers: { ...json, authorization: `Bearer ${admin}` }, body: JSON.stringify({ name: 'viewer', groups: ['team-a'], validFor: '1h' }) });
    assert.equal(viewer.status, 200);
    const denied = await tokens(port, { headers: { ...json, authorization: `Bearer ${await viewer.text()}` }, body });
    assert.equal(denied.status, 403);
    assert.match(((await denied.json()) as { details: string }).details, /generateDpToken/);

    const allowed = await tokens(port, { headers: { ...json, authorization: `Bearer ${admin}` }, body });
    assert.equal(allowed.status, 200);
    assert.equal(decodeJwt(await allowed.text()).Mesh, 'default');
  });

  it('is off with dataplaneTokenServer.enabled=false', async (t) => {
    const cp = await startTestControlPlane(t, { KUMA_DATAPLANE_TOKEN_SERVER_ENABLED: 'false' });
    assert.equal(cp.cp.tokenServerPort, undefined);
  });
});

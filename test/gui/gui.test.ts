import assert from 'node:assert/strict';
import { VERSION } from '../../src/version.js';
import { existsSync, mkdirSync } from 'node:fs';
import { describe, it, before, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from '../helpers/ads-client.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';

/**
 * The GUI in Debian's Chromium (headless, driven by playwright-core; never a downloaded browser).
 * Screenshots go to test-output/gui/. Without /usr/bin/chromium these tests are skipped locally,
 * loudly, and fail in CI (CI=true), where .ci/run installs it.
 */
const CHROMIUM = process.env.SKIFF_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-output/gui/', import.meta.url));
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === 'true') throw new Error(`GUI tests need Chromium at ${CHROMIUM} (apt-get install chromium); .ci/run installs it`);
  console.warn(`\n*** GUI tests SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium). In CI they run. ***\n`);
}

const dp = (address: string, service: string, outbound: string[] = [], extra: Record<string, string> = {}) => ({
  networking: { address, inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': service, ...extra } }], outbound: outbound.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) },
});

describe('GUI (Chromium)', { skip: !available && 'no Chromium' }, () => {
  let browser: Browser;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
  });
  after(async () => {
    await browser?.close();
  });

  async function page(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    return context.newPage();
  }

  async function seeded(t: Parameters<typeof startTestControlPlane>[0], env: Record<string, string> = {}): Promise<TestControlPlane> {
    const cp = await startTestControlPlane(t, env);
    const put = async (path: string, body: unknown) => {
      const r = await fetch(cp.api + path, { method: 'PUT', headers: { 'content-type': 'application/json', ...(env.KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN === 'false' ? { authorization: `Bearer ${await adminToken(cp)}` } : {}) }, body: JSON.stringify(body) });
      assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.status} ${await r.text()}`);
    };
    await put('/meshes/prod', {});
    await put('/meshes/default/dataplanes/web-1', dp('10.0.0.1', 'web', ['backend'], { version: 'v1' }));
    await put('/meshes/default/dataplanes/backend-1', dp('10.0.0.2', 'backend'));
    await put('/meshes/prod/dataplanes/api-1', dp('10.1.0.1', 'api'));
    const any = [{ match: { 'kuma.io/service': '*' } }];
    await put('/meshes/default/traffic-permissions/allow-all', { type: 'TrafficPermission', mesh: 'default', name: 'allow-all', sources: any, destinations: any });
    await put('/meshes/default/traffic-routes/web-to-backend', { type: 'TrafficRoute', mesh: 'default', name: 'web-to-backend', sources: [{ match: { 'kuma.io/service': 'web' } }], destinations: [{ match: { 'kuma.io/service': 'backend' } }], conf: { split: [{ weight: 100, destination: { 'kuma.io/service': 'backend' } }] } });
    return cp;
  }

  async function adminToken(cp: TestControlPlane): Promise<string> {
    const secret = await cp.cp.store.get({ type: 'GlobalSecret', mesh: '', name: 'admin-user-token' });
    return Buffer.from(String(secret!.spec.data), 'base64').toString('utf8');
  }

  it('shows every mesh with its dataplane and policy counts, and a first-run walkthrough when there are no dataplanes', async (t) => {
    const empty = await startTestControlPlane(t);
    const first = await page();
    await first.goto(`http://127.0.0.1:${empty.cp.guiPort}/`);
    await first.getByRole('heading', { name: 'Welcome to Skiff' }).waitFor();
    assert.match(await first.locator('main').innerText(), /Environment: universal/i);
    assert.match(await first.locator('main').innerText(), /skiffctl generate dataplane-token/);
    await first.screenshot({ path: `${SHOTS}01-first-run.png`, fullPage: true });
    await first.context().close();

    const cp = await seeded(t);
    const p = await page();
    await p.goto(`http://127.0.0.1:${cp.cp.apiPort}/gui/`);
    const row = p.getByRole('row', { name: /^default/ });
    await row.waitFor();
    // Mesh, dataplanes, online, offline, one count per original policy type (permissions, routes, ...),
    // then the Kuma 2.x policies: here the four Kuma creates with every mesh.
    assert.deepEqual(await row.getByRole('cell').allInnerTexts(), ['default', '2', '0', '2', '1', '1', '0', '0', '0', '4']);
    assert.deepEqual(await p.getByRole('row', { name: /^prod/ }).getByRole('cell').allInnerTexts(), ['prod', '1', '0', '1', '0', '0', '0', '0', '0', '4']);
    assert.equal(await p.getByRole('heading', { name: 'Welcome to Skiff' }).count(), 0, 'no walkthrough once dataplanes exist');
    // The writes the seeding made, newest first, with where they arrived (no proxy is connected).
    await p.getByRole('heading', { name: 'Recent rollouts' }).waitFor();
    const rollout = await p.getByRole('row', { name: /TrafficRoute default\/web-to-backend/ }).getByRole('cell').allInnerTexts();
    assert.deepEqual([rollout[0], rollout[1], rollout[3], rollout[6]], ['TrafficRoute default/web-to-backend', 'create', '0/0', 'done']);
    // The control planes on the store: here the one, its own leader.
    const instanceId = ((await (await fetch(`http://127.0.0.1:${cp.cp.apiPort}/`)).json()) as { instanceId: string }).instanceId;
    const instance = p.getByRole('row', { name: new RegExp(`^${instanceId}`) });
    await instance.waitFor();
    const cells = await instance.getByRole('cell').allInnerTexts();
    assert.deepEqual(cells.slice(0, 5), [instanceId, `localhost:${cp.cp.xds.port}`, VERSION, 'yes', '0']);
    assert.match(await p.locator('main').innerText(), /1 control plane on this store/);
    await p.screenshot({ path: `${SHOTS}02-overview.png`, fullPage: true });
    await p.context().close();
  });

  it('navigates to a mesh (sidebar picker) and a dataplane, with its policies, YAML and xDS config', async (t) => {
    const cp = await seeded(t);
    const proxy = new SotwClient(cp.xdsAddress, 'default.web-1');
    t.after(() => proxy.close());
    proxy.request(TYPE_URLS.cluster);
    proxy.ack(await proxy.expect(TYPE_URLS.cluster));
    const p = await page();
    await p.goto(`http://127.0.0.1:${cp.cp.apiPort}/gui/`);
    await p.getByRole('row', { name: /^default/ }).waitFor();
    await p.getByLabel('Mesh', { exact: true }).selectOption('default');
    await p.getByRole('heading', { name: 'Mesh default' }).waitFor();
    assert.ok(await p.getByRole('link', { name: 'web-to-backend' }).isVisible(), 'the mesh lists its policies');
    assert.deepEqual(await p.getByRole('row', { name: /mesh-retry-all-default/ }).getByRole('cell').allInnerTexts(), ['MeshRetry', 'mesh-retry-all-default'], 'and its Kuma 2.x policies, with their type');
    await p.getByRole('link', { name: 'web-1' }).click();
    await p.getByRole('heading', { name: /Dataplane web-1/ }).waitFor();
    const main = p.locator('main');
    assert.match(await main.innerText(), /Inbounds[\s\S]*kuma\.io\/service=web[\s\S]*Outbounds[\s\S]*backend/);
    assert.deepEqual(await p.getByRole('row', { name: /TrafficRoute/ }).getByRole('cell').allInnerTexts(), ['TrafficRoute', 'web-to-backend', 'outbound backend']);
    assert.deepEqual(await p.getByRole('row', { name: /TrafficPermission/ }).getByRole('cell').allInnerTexts(), ['TrafficPermission', 'allow-all', 'inbound web']);
    // The xDS config dump in collapsible sections, opened from the keyboard.
    const cds = p.locator('summary', { hasText: /^CDS \(/ });
    await cds.focus();
    await p.keyboard.press('Enter');
    await p.locator('summary', { hasText: 'backend' }).first().waitFor();
    await p.screenshot({ path: `${SHOTS}03-dataplane.png`, fullPage: true });
    await p.getByRole('link', { name: 'web-to-backend' }).click();
    await p.getByLabel('YAML').waitFor();
    assert.match(await p.getByLabel('YAML').innerText(), /type: TrafficRoute\n[\s\S]*name: web-to-backend/);
    await p.screenshot({ path: `${SHOTS}04-policy-yaml.png`, fullPage: true });
    await p.context().close();
  });

  it('shows a dataplane turn online when its proxy connects and offline when it leaves, without reloading', async (t) => {
    const cp = await seeded(t);
    const p = await page();
    await p.goto(`http://127.0.0.1:${cp.cp.apiPort}/gui/#/meshes/default`);
    const row = p.getByRole('row', { name: /^backend-1/ });
    await row.getByText('Offline').waitFor();
    const navigations: string[] = [];
    p.on('framenavigated', (f) => navigations.push(f.url()));
    const proxy = new SotwClient(cp.xdsAddress, 'default.backend-1');
    proxy.request(TYPE_URLS.cluster);
    proxy.ack(await proxy.expect(TYPE_URLS.cluster));
    await row.getByText('Online').waitFor({ timeout: 10_000 });
    assert.notEqual(await row.getByRole('cell').nth(3).innerText(), 'never', 'last connected is shown');
    await p.screenshot({ path: `${SHOTS}05-online.png`, fullPage: true });
    proxy.close();
    await row.getByText('Offline').waitFor({ timeout: 10_000 });
    await p.screenshot({ path: `${SHOTS}06-offline.png`, fullPage: true });
    assert.deepEqual(navigations, [], 'the page was never reloaded');
    await p.context().close();
  });

  it('asks for a user token when localhost is not admin, explains a refusal, and works once logged in', async (t) => {
    const cp = await seeded(t, { KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN: 'false' });
    const p = await page();
    await p.goto(`http://127.0.0.1:${cp.cp.guiPort}/`);
    await p.getByRole('alert').filter({ hasText: 'Authentication required' }).waitFor();
    await p.screenshot({ path: `${SHOTS}07-login-required.png`, fullPage: true });
    await p.getByLabel('User token').fill('not-a-token');
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByRole('alert').filter({ hasText: /invalid user token/ }).waitFor();
    await p.getByLabel('User token').fill(await adminToken(cp));
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByRole('row', { name: /^default/ }).waitFor();
    assert.match(await p.locator('#who').innerText(), /Signed in as mesh-system:admin/);
    assert.ok(await p.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('skiff.userToken')), 'the token is kept in sessionStorage');
    await p.screenshot({ path: `${SHOTS}08-logged-in.png`, fullPage: true });
    await p.context().close();
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, after } from 'node:test';
import { CONFIG_LEAVES } from '../../src/config/env.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { redactConfig } from '../../src/config/redact.js';

const dir = mkdtempSync(join(tmpdir(), 'skiff-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const path = join(dir, `config-${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('configuration', () => {
  it('has Kuma’s defaults for every port and the embedded SQLite store', () => {
    const { config, warnings } = loadConfig();
    assert.deepEqual(warnings, []);
    assert.equal(config.store.type, 'sqlite');
    assert.equal(config.store.sqlite.path, 'skiff.db');
    assert.equal(config.apiServer.http.port, 5681);
    assert.equal(config.apiServer.https.port, 5682);
    assert.equal(config.xdsServer.grpcPort, 5678);
    assert.equal(config.sdsServer.grpcPort, 5677);
    assert.equal(config.dataplaneTokenServer.local.port, 5679);
    assert.equal(config.diagnostics.serverPort, 5680);
    assert.equal(config.guiServer.port, 5683);
    assert.equal(config.apiServer.authn.localhostIsAdmin, true);
    assert.deepEqual(config.apiServer.corsAllowedDomains, []);
    assert.deepEqual(config.access.static.adminResources.groups, ['mesh-system:admin']);
    assert.deepEqual(config.access.static.viewConfigDump.groups, ['mesh-system:unauthenticated', 'mesh-system:authenticated']);
    assert.equal(config.xdsServer.dataplaneStatusFlushInterval, '1s');
  });

  it('names environment variables the way Kuma does', () => {
    const names = new Set(CONFIG_LEAVES.map((l) => l.envName));
    for (const name of [
      'KUMA_STORE_TYPE',
      'KUMA_STORE_SQLITE_PATH',
      'KUMA_STORE_POSTGRES_HOST',
      'KUMA_STORE_POSTGRES_PORT',
      'KUMA_STORE_POSTGRES_USER',
      'KUMA_STORE_POSTGRES_PASSWORD',
      'KUMA_STORE_POSTGRES_DB_NAME',
      'KUMA_API_SERVER_HTTP_PORT',
      'KUMA_API_SERVER_HTTP_INTERFACE',
      'KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN',
      'KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN',
      'KUMA_API_SERVER_AUTH_CLIENT_CERTS_DIR',
      'KUMA_XDS_SERVER_GRPC_PORT',
      'KUMA_XDS_SERVER_TLS_ENABLED',
      'KUMA_SDS_SERVER_GRPC_PORT',
      'KUMA_DATAPLANE_TOKEN_SERVER_LOCAL_PORT',
      'KUMA_DIAGNOSTICS_SERVER_PORT',
      'KUMA_GUI_SERVER_PORT',
      'KUMA_DEFAULTS_SKIP_MESH_CREATION',
      'KUMA_GENERAL_WORK_DIR',
    ]) {
      assert.ok(names.has(name), `${name} is not a known variable`);
    }
  });

  it('reads a YAML file and lets KUMA_* variables override it', () => {
    const path = file('store:\n  type: postgres\n  postgres:\n    host: db.internal\n    port: 6543\napiServer:\n  http:\n    port: 7681\n');
    const { config } = loadConfig({ configFile: path, env: { KUMA_STORE_POSTGRES_PORT: '7000', KUMA_DEFAULTS_SKIP_MESH_CREATION: 'true' } });
    assert.equal(config.store.type, 'postgres');
    assert.equal(config.store.postgres.host, 'db.internal');
    assert.equal(config.store.postgres.port, 7000);
    assert.equal(config.store.postgres.dbName, 'kuma', 'untouched keys keep defaults');
    assert.equal(config.apiServer.http.port, 7681);
    assert.equal(config.defaults.skipMeshCreation, true);
  });

  it('parses lists from the environment as Kuma’s envconfig does (comma separated)', () => {
    const { config } = loadConfig({ env: { KUMA_API_SERVER_CORS_ALLOWED_DOMAINS: 'https://a.example, https://b.example', KUMA_ACCESS_STATIC_ADMIN_RESOURCES_USERS: '' } });
    assert.deepEqual(config.apiServer.corsAllowedDomains, ['https://a.example', 'https://b.example']);
    assert.deepEqual(config.access.static.adminResources.users, []);
  });

  it('accepts port 0 (bind any free port)', () => {
    assert.equal(loadConfig({ env: { KUMA_API_SERVER_HTTP_PORT: '0' } }).config.apiServer.http.port, 0);
  });

  it('rejects unknown keys in the file, naming each', () => {
    const path = file('store:\n  typ: memory\napiServr:\n  port: 1\n');
    const found = problems(() => loadConfig({ configFile: path }));
    assert.ok(found.includes('store.typ: unknown key'), found.join('; '));
    assert.ok(found.includes('apiServr: unknown key'), found.join('; '));
  });

  it('rejects bad values, naming the key and the variable it came from', () => {
    const found = problems(() =>
      loadConfig({ env: { KUMA_STORE_TYPE: 'mongo', KUMA_API_SERVER_HTTP_PORT: '70000', KUMA_XDS_SERVER_TLS_ENABLED: 'maybe', KUMA_DIAGNOSTICS_SERVER_PORT: 'abc' } }),
    );
    assert.ok(found.some((p) => p === 'store.type (from KUMA_STORE_TYPE): must be one of: sqlite, memory, postgres'), found.join('; '));
    assert.ok(found.some((p) => p.startsWith('apiServer.http.port (from KUMA_API_SERVER_HTTP_PORT)')), found.join('; '));
    assert.ok(found.some((p) => p.startsWith('KUMA_XDS_SERVER_TLS_ENABLED: expected true or false')), found.join('; '));
    assert.ok(found.some((p) => p.startsWith('KUMA_DIAGNOSTICS_SERVER_PORT: expected an integer')), found.join('; '));
  });

  it('rejects a malformed duration and wrong types in the file', () => {
    const path = file('xdsServer:\n  dataplaneStatusFlushInterval: soon\napiServer:\n  readOnly: "yes"\n');
    const found = problems(() => loadConfig({ configFile: path }));
    assert.ok(found.some((p) => p.startsWith('xdsServer.dataplaneStatusFlushInterval:')), found.join('; '));
    assert.ok(found.some((p) => p.startsWith('apiServer.readOnly:')), found.join('; '));
  });

  it('reports a missing file, invalid YAML and a non-mapping document clearly', () => {
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'absent.yaml') }))[0]!, /absent\.yaml: ENOENT/);
    assert.match(problems(() => loadConfig({ configFile: file('store: [') }))[0]!, /not valid YAML/);
    assert.match(problems(() => loadConfig({ configFile: file('- a\n- b\n') }))[0]!, /expected a mapping/);
  });

  it('treats an empty file as all defaults', () => {
    assert.equal(loadConfig({ configFile: file('') }).config.store.type, 'sqlite');
  });

  it('warns about unknown KUMA_* variables without failing', () => {
    const { warnings } = loadConfig({ env: { KUMA_NO_SUCH_SETTING: '1', NOT_KUMA: 'x' } });
    assert.deepEqual(warnings, ['unknown environment variable KUMA_NO_SUCH_SETTING is ignored']);
  });

  it('masks every secret when shown, without touching the live config', () => {
    const { config } = loadConfig({ env: { KUMA_STORE_POSTGRES_PASSWORD: 's3cr3t' } });
    const shown = redactConfig(config);
    assert.equal(shown.store.postgres.password, '*****');
    assert.ok(!JSON.stringify(shown).includes('s3cr3t'));
    assert.equal(config.store.postgres.password, 's3cr3t');
  });

  it('lists its keys in the documented order', () => {
    const { config } = loadConfig({ env: { KUMA_DIAGNOSTICS_SERVER_PORT: '1' } });
    assert.deepEqual(Object.keys(config).slice(0, 4), ['environment', 'general', 'store', 'apiServer']);
  });
});

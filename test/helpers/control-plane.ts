import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { startControlPlane, type ControlPlane } from '../../src/server.js';

export interface TestControlPlane {
  cp: ControlPlane;
  /** Where the control plane keeps generated certificates (`certs/`). */
  workDir: string;
  api: string;
  xdsAddress: string;
  put(path: string, body: unknown): Promise<number>;
  del(path: string): Promise<number>;
}

/** A whole control plane in this process on ephemeral ports (memory store unless overridden), closed after the test. */
export async function startTestControlPlane(t: TestContext | undefined, env: Record<string, string> = {}): Promise<TestControlPlane> {
  // Certificates generated at start go to a private work directory, not the repository.
  const workDir = mkdtempSync(join(tmpdir(), 'skiff-cp-'));
  const { config } = loadConfig({
    env: {
      KUMA_GENERAL_WORK_DIR: workDir,
      KUMA_STORE_TYPE: 'memory',
      KUMA_API_SERVER_HTTP_PORT: '0',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DIAGNOSTICS_SERVER_PORT: '0',
      KUMA_GUI_SERVER_PORT: '0',
      KUMA_XDS_SERVER_GRPC_PORT: '0',
      KUMA_XDS_SERVER_TLS_ENABLED: 'false',
      // Protocol tests speak for any node; token enforcement has tests of its own.
      KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE: 'none',
      KUMA_API_SERVER_HTTPS_PORT: '0',
      KUMA_DATAPLANE_TOKEN_SERVER_LOCAL_PORT: '0',
      KUMA_SDS_SERVER_GRPC_PORT: '0',
      KUMA_API_SERVER_HTTPS_INTERFACE: '127.0.0.1',
      ...env,
    },
  });
  const cp = await startControlPlane(config, pino({ level: process.env.SKIFF_TEST_LOG ?? 'silent' }));
  t?.after(async () => {
    await cp.close();
    rmSync(workDir, { recursive: true, force: true });
  });
  const api = `http://127.0.0.1:${cp.apiPort}`;
  return {
    cp,
    workDir: config.general.workDir,
    api,
    xdsAddress: `127.0.0.1:${cp.xds.port}`,
    put: (path, body) => fetch(api + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status),
    del: (path) => fetch(api + path, { method: 'DELETE' }).then((r) => r.status),
  };
}

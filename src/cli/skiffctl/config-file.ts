import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';

/** How skiffctl reaches one control plane (kumactl's `coordinates.apiServer`). */
export interface ApiServerCoordinates {
  url: string;
  authType?: 'tokens';
  authConf?: { token?: string };
  caCertFile?: string;
  skipVerify?: boolean;
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface SkiffctlConfig {
  contexts: Array<{ name: string; controlPlane: string }>;
  controlPlanes: Array<{ name: string; coordinates: { apiServer: ApiServerCoordinates } }>;
  currentContext: string;
}

export const defaultConfigPath = (): string => join(homedir(), '.skiffctl', 'config');

/** kumactl's file shape, so a `~/.kumactl/config` reads the same. */
export function readConfig(path: string): SkiffctlConfig {
  if (!existsSync(path)) return { contexts: [], controlPlanes: [], currentContext: '' };
  const doc = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as Partial<SkiffctlConfig>;
  return { contexts: doc.contexts ?? [], controlPlanes: doc.controlPlanes ?? [], currentContext: doc.currentContext ?? '' };
}

/** Written readable by the owner only: it holds tokens. */
export function writeConfig(path: string, config: SkiffctlConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, toYaml(config), { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function currentControlPlane(config: SkiffctlConfig): { name: string; apiServer: ApiServerCoordinates } | undefined {
  const context = config.contexts.find((c) => c.name === config.currentContext);
  const cp = config.controlPlanes.find((p) => p.name === context?.controlPlane);
  return cp ? { name: cp.name, apiServer: cp.coordinates.apiServer } : undefined;
}

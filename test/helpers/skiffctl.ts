import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIFFCTL = fileURLToPath(new URL('../../src/cli/skiffctl.js', import.meta.url));

export type Skiffctl = (args: string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * Runs `body` with a skiffctl pointed at `api` through a config file of its own. Calls are
 * asynchronous: the control plane answering them may run in this very process.
 */
export async function withSkiffctl(api: string, body: (skiffctl: Skiffctl) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'skiffctl-'));
  const config = join(dir, 'config');
  const skiffctl: Skiffctl = (args, input) =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [SKIFFCTL, '--config-file', config, ...args], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      if (input !== undefined) child.stdin!.end(input);
    });
  try {
    const added = await skiffctl(['config', 'control-planes', 'add', '--name', 'cp', '--address', api]);
    if (added.code !== 0) throw new Error(`skiffctl config: ${added.stderr}`);
    await body(skiffctl);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A JSON REST call: its status and parsed body. */
export async function send(api: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(api + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled `skiff-cp` entry point, run exactly as users run it. */
export const SKIFF_CP = fileURLToPath(new URL('../../src/cli/skiff-cp.js', import.meta.url));

export interface RunningCp {
  proc: ChildProcess;
  apiUrl: string;
  diagnosticsUrl: string;
  /** `https://127.0.0.1:port` of the HTTPS API. */
  apiHttpsUrl: string;
  /** `host:port` of the xDS gRPC server. */
  xdsAddress: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/**
 * Starts `skiff-cp run` in a child process on ephemeral ports (port 0) and waits until it logs
 * the addresses it bound.
 */
export async function startCpProcess(env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): Promise<RunningCp> {
  const proc = spawn(process.execPath, [...nodeArgs, SKIFF_CP, 'run', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      KUMA_API_SERVER_HTTP_PORT: '0',
      KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
      KUMA_DIAGNOSTICS_SERVER_PORT: '0',
      KUMA_GUI_SERVER_PORT: '0',
      KUMA_XDS_SERVER_GRPC_PORT: '0',
      KUMA_API_SERVER_HTTPS_PORT: '0',
      KUMA_DATAPLANE_TOKEN_SERVER_LOCAL_PORT: '0',
      KUMA_SDS_SERVER_GRPC_PORT: '0',
      KUMA_API_SERVER_HTTPS_INTERFACE: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const deadline = Date.now() + 15_000;
  let apiUrl: string | undefined;
  let diagnosticsUrl: string | undefined;
  let xdsAddress: string | undefined;
  let apiHttpsUrl: string | undefined;
  while (!apiUrl || !diagnosticsUrl || !xdsAddress || !apiHttpsUrl) {
    if (proc.exitCode !== null) throw new Error(`skiff-cp exited with ${proc.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`skiff-cp did not start in time:\n${output}`);
    }
    apiUrl ??= /API server \(HTTP\) listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    diagnosticsUrl ??= /diagnostics server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    apiHttpsUrl ??= /API server \(HTTPS\) listening at (https:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    const xdsPort = /xDS server listening at grpcs?:\/\/0\.0\.0\.0:(\d+)/.exec(output)?.[1];
    xdsAddress ??= xdsPort ? `127.0.0.1:${xdsPort}` : undefined;
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    proc,
    apiUrl,
    apiHttpsUrl,
    diagnosticsUrl,
    xdsAddress,
    output: () => output,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

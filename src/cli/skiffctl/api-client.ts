import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { ApiServerCoordinates } from './config-file.js';

export interface ApiResponse {
  /** The `x-skiff-rollout` id a write answered with. */
  rollout?: string;
  status: number;
  contentType: string;
  body: string;
}

/** The error envelope's words, or the raw body, for a failed call. */
export function describeFailure(response: ApiResponse): string {
  try {
    const envelope = JSON.parse(response.body) as { title?: string; details?: string; causes?: Array<{ field: string; message: string }> };
    const causes = (envelope.causes ?? []).map((c) => `\n  * ${c.field}: ${c.message}`).join('');
    return `${envelope.title ?? `HTTP ${response.status}`}: ${envelope.details ?? ''}${causes}`;
  } catch {
    return `HTTP ${response.status}: ${response.body.slice(0, 200)}`;
  }
}

/**
 * Calls the control plane's API as configured: the user token as a Bearer header, TLS verified
 * against the given CA (or the system store) unless `skipVerify` is explicitly set, and an
 * optional client certificate.
 */
export function callApi(coordinates: ApiServerCoordinates, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const url = new URL(path, coordinates.url.endsWith('/') ? coordinates.url : `${coordinates.url}/`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (coordinates.authConf?.token) headers.authorization = `Bearer ${coordinates.authConf.token}`;
  const secure = url.protocol === 'https:';
  const options: https.RequestOptions = {
    method,
    headers,
    ...(secure
      ? {
          ca: coordinates.caCertFile ? readFileSync(coordinates.caCertFile) : undefined,
          rejectUnauthorized: !coordinates.skipVerify,
          cert: coordinates.clientCertFile ? readFileSync(coordinates.clientCertFile) : undefined,
          key: coordinates.clientKeyFile ? readFileSync(coordinates.clientKeyFile) : undefined,
        }
      : {}),
  };
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(url, options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: text, ...(typeof res.headers['x-skiff-rollout'] === 'string' ? { rollout: res.headers['x-skiff-rollout'] } : {}) }));
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      const hint = /self[- ]signed|unable to verify|certificate/i.test(err.message) ? ' (give the control plane CA with --ca-cert-file, or --skip-verify to not verify it)' : '';
      reject(new Error(`cannot reach the control plane at ${coordinates.url}: ${err.message}${hint}`));
    });
    request.setTimeout(30_000, () => request.destroy(new Error('timed out after 30 s')));
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

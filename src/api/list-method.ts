import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { envelope } from './envelope.js';

/**
 * Vault's `LIST` HTTP method (`LIST /auth/kubernetes/role`). Node's HTTP parser knows a fixed set
 * of methods without LIST and turns such a request into a client error before any route sees it,
 * so the error handler recognises it and answers it as Vault's equivalent, `GET …?list=true`,
 * through the same app (same authentication, access rules and handlers) with the caller's address.
 * Only paths under the Vault-shaped API are bridged; every other client error is a 400 envelope.
 */

const LIST_PATH = /^(?:\/v1)?\/auth\/kubernetes\//;
const MAX_HEAD_BYTES = 16 * 1024;

/** What Node's 'clientError' hands over (fastify types `rawPacket` loosely). */
interface ParserError extends Error {
  code?: string;
  rawPacket?: unknown;
}

function badRequest(socket: Socket, status = 400, details = 'the request could not be parsed'): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify(envelope(status, STATUS_CODES[status] ?? 'Bad Request', details));
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** The request head (up to the blank line), reading more from the socket if the first packet did not hold it all. */
async function readHead(first: Buffer, socket: Socket): Promise<string | undefined> {
  let data = first;
  const deadline = Date.now() + 5000;
  while (!data.includes('\r\n\r\n')) {
    if (data.length > MAX_HEAD_BYTES || Date.now() > deadline || socket.destroyed) return undefined;
    const more = await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), deadline - Date.now());
      socket.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        resolve(chunk);
      });
    });
    if (!more) return undefined;
    data = Buffer.concat([data, more]);
  }
  return data.subarray(0, data.indexOf('\r\n\r\n')).toString('latin1');
}

export function listMethodBridge(getApp: () => FastifyInstance): (err: ParserError, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined;
    if (err.code !== 'HPE_INVALID_METHOD' || !raw || raw.subarray(0, 5).toString('latin1') !== 'LIST ') return badRequest(socket);
    void (async () => {
      const head = await readHead(raw, socket);
      const [requestLine, ...headerLines] = (head ?? '').split('\r\n');
      const match = /^LIST (\S+) HTTP\/1\.[01]$/.exec(requestLine ?? '');
      if (!head || !match) return badRequest(socket);
      const path = match[1]!;
      if (!LIST_PATH.test(path)) return badRequest(socket, 405, 'LIST is only served under /auth/kubernetes/');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon <= 0) return badRequest(socket);
        const name = line.slice(0, colon).trim().toLowerCase();
        if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
        headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`;
      }
      const url = `${path.replace(/\/+$/, '')}${path.includes('?') ? '&' : '?'}list=true`;
      const res = await getApp().inject({ method: 'GET', url, headers, remoteAddress: socket.remoteAddress ?? '' });
      const body = res.rawPayload;
      const type = String(res.headers['content-type'] ?? 'application/json; charset=utf-8');
      socket.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}\r\ncontent-type: ${type}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`, 'latin1'),
          body,
        ]),
      );
    })().catch(() => badRequest(socket, 500, 'the control plane could not handle the request; see its log'));
  };
}

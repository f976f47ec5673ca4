import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { compileFormat } from '../../src/dp/access-log-format.js';
import { startAccessLogForwarder, type AccessLogForwarder } from '../../src/dp/access-log-forwarder.js';
import { accessLogSocketPath, DEFAULT_HTTP_LOG_FORMAT, DEFAULT_TCP_LOG_FORMAT, encodeLogName, MAX_SOCKET_PATH_BYTES } from '../../src/xds/generators/traffic-log.js';
import { identifier, streamAccessLogs } from '../helpers/als-client.js';

/** Entries shaped as Envoy's gRPC access logger sends them (decoded: snake_case, longs as strings). */
const TCP_ENTRY = {
  common_properties: {
    downstream_remote_address: { socket_address: { address: '127.0.0.1', port_value: 51000 } },
    downstream_local_address: { socket_address: { address: '127.0.0.1', port_value: 33033 } },
    upstream_remote_address: { socket_address: { address: '10.0.0.2', port_value: 8000 } },
    upstream_cluster: 'backend',
    start_time: { seconds: '1764059400', nanos: 123_456_789 },
    duration: { seconds: '1', nanos: 250_000_000 },
  },
  connection_properties: { received_bytes: '17', sent_bytes: '4096' },
};

const HTTP_ENTRY = {
  common_properties: {
    downstream_remote_address: { socket_address: { address: '127.0.0.1', port_value: 51001 } },
    upstream_remote_address: { socket_address: { address: '10.0.0.3', port_value: 8080 } },
    upstream_cluster: 'api',
    start_time: { seconds: '1764059400', nanos: 0 },
    time_to_last_downstream_tx_byte: { seconds: '0', nanos: 42_000_000 },
    response_flags: { upstream_connection_failure: true, upstream_retry_limit_exceeded: true },
  },
  protocol_version: 'HTTP11',
  request: { request_method: 'GET', path: '/orders', authority: 'api', user_agent: 'curl/8', request_id: 'r-1', request_body_bytes: '0', request_headers: { 'x-b3-traceid': 'abc123' } },
  response: { response_code: { value: 503 }, response_body_bytes: '19', response_headers: { 'x-envoy-upstream-service-time': '40' } },
};

describe('access log format (Envoy command operators)', () => {
  it('renders Kuma’s default TCP format from a TCP entry', () => {
    // The generator resolves Kuma's placeholders before Envoy (and skiff-dp) see the format.
    const resolved = DEFAULT_TCP_LOG_FORMAT.replace('%KUMA_MESH%', 'default').replace('%KUMA_SOURCE_SERVICE%', 'web').replace('%KUMA_DESTINATION_SERVICE%', 'api').replace('%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%', '10.0.0.1');
    const format = compileFormat(resolved);
    assert.deepEqual(format.unknown, []);
    assert.equal(format.render(TCP_ENTRY, 'tcp'), '[2025-11-25T08:30:00.123Z] - default 10.0.0.1(web)->10.0.0.2:8000(api) took 1250ms, sent 4096 bytes, received: 17 bytes');
  });

  it('renders Kuma’s default HTTP format, with the trace id, response flags, header fallbacks and missing values as "-"', () => {
    const resolved = DEFAULT_HTTP_LOG_FORMAT.replace('%KUMA_MESH%', 'default').replace('%KUMA_SOURCE_SERVICE%', 'web').replace('%KUMA_DESTINATION_SERVICE%', 'api').replace('%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%', '10.0.0.1');
    const format = compileFormat(resolved);
    assert.deepEqual(format.unknown, []);
    assert.equal(format.render(HTTP_ENTRY, 'http'), '[2025-11-25T08:30:00.000Z] default "GET /orders HTTP/1.1" 503 UF,URX 0 19 42 40 "-" "curl/8" "abc123" "r-1" "api" "web" "api" "10.0.0.1" "10.0.0.3:8080"');
  });

  it('supports arguments, truncation, START_TIME patterns and reports unknown operators', () => {
    const format = compileFormat('%REQ(X-MISSING?X-B3-TRACEID):3% %START_TIME(%Y/%m/%d %H:%M:%S.%3f)% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %NOT_AN_OPERATOR% 100%');
    assert.deepEqual(format.unknown, ['NOT_AN_OPERATOR']);
    assert.equal(format.render(HTTP_ENTRY, 'http'), 'abc 2025/11/25 08:30:00.000 127.0.0.1 - 100%');
    assert.equal(compileFormat('%RESPONSE_CODE% %PROTOCOL% %BYTES_RECEIVED%').render(TCP_ENTRY, 'tcp'), '0 - 17');
  });
});

/** A TCP logging backend (a Logstash stand-in) collecting what it is sent. */
async function tcpBackend(port = 0): Promise<{ server: Server; port: number; text: () => string }> {
  let text = '';
  const server = createServer((socket) => socket.on('data', (chunk) => (text += chunk.toString())));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, text: () => text };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe('access log forwarder (skiff-dp’s AccessLogService on a Unix socket)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-als-'));
  const socketPath = join(dir, 'al.sock');
  let forwarder: AccessLogForwarder;

  before(async () => {
    forwarder = await startAccessLogForwarder(socketPath, pino({ level: 'silent' }));
  });
  after(async () => {
    await forwarder.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('formats TCP and HTTP entries and writes one line each to the backend named in the log name', async () => {
    const backend = await tcpBackend();
    try {
      const address = `127.0.0.1:${backend.port}`;
      const tcp = await streamAccessLogs(socketPath, [
        { identifier: identifier(encodeLogName(address, '%UPSTREAM_CLUSTER% %BYTES_SENT%\n')), tcp_logs: { log_entry: [TCP_ENTRY] } },
        { tcp_logs: { log_entry: [TCP_ENTRY, TCP_ENTRY] } }, // later messages carry no identifier
      ]);
      assert.equal(tcp.code, grpc.status.OK, tcp.details);
      const http = await streamAccessLogs(socketPath, [{ identifier: identifier(encodeLogName(address, '%REQ(:METHOD)% %RESPONSE_CODE% %REQ(X-B3-TRACEID)%')), http_logs: { log_entry: [HTTP_ENTRY] } }]);
      assert.equal(http.code, grpc.status.OK, http.details);
      await until(() => backend.text().split('\n').length >= 5);
      assert.deepEqual(backend.text().split('\n').filter(Boolean).sort(), ['GET 503 abc123', 'backend 4096', 'backend 4096', 'backend 4096']);
    } finally {
      backend.server.close();
    }
  });

  it('keeps lines while the backend is down and delivers them once it is up', async () => {
    const probe = await tcpBackend();
    const port = probe.port;
    await new Promise((r) => probe.server.close(r)); // nothing listens on `port` now
    const sent = await streamAccessLogs(socketPath, [{ identifier: identifier(encodeLogName(`127.0.0.1:${port}`, 'late %BYTES_RECEIVED%')), tcp_logs: { log_entry: [TCP_ENTRY] } }]);
    assert.equal(sent.code, grpc.status.OK, 'Envoy is never held up by a backend that is down');
    await new Promise((r) => setTimeout(r, 300));
    const backend = await tcpBackend(port);
    try {
      await until(() => backend.text().includes('\n'), 15_000);
      assert.equal(backend.text(), 'late 17\n');
    } finally {
      backend.server.close();
    }
  });

  it('refuses a stream whose log name carries no backend address, and keeps serving others', async () => {
    for (const logName of ['no-address-here', 'host-without-port;%BYTES_SENT%', '127.0.0.1:99999;x']) {
      const refused = await streamAccessLogs(socketPath, [{ identifier: identifier(logName), tcp_logs: { log_entry: [TCP_ENTRY] } }]);
      assert.equal(refused.code, grpc.status.INVALID_ARGUMENT, logName);
      assert.match(refused.details, /log_name "host:port;format"/);
    }
    const backend = await tcpBackend();
    try {
      const ok = await streamAccessLogs(socketPath, [{ identifier: identifier(encodeLogName(`127.0.0.1:${backend.port}`, 'still %UPSTREAM_HOST%')), tcp_logs: { log_entry: [TCP_ENTRY] } }]);
      assert.equal(ok.code, grpc.status.OK);
      await until(() => backend.text().includes('\n'));
      assert.equal(backend.text(), 'still 10.0.0.2:8000\n');
    } finally {
      backend.server.close();
    }
  });

  it('removes its socket when closed', async () => {
    const other = join(dir, 'other.sock');
    const f = await startAccessLogForwarder(other, pino({ level: 'silent' }));
    assert.ok(existsSync(other));
    await f.close();
    assert.ok(!existsSync(other));
  });
});

describe('access log socket path (shared by the generator and skiff-dp)', () => {
  it('is Kuma’s path when it fits, and fits the Unix socket limit for every valid name', async () => {
    assert.equal(accessLogSocketPath('web-1', 'default'), '/tmp/kuma-al-web-1-default.sock');
    const longest = 'd'.repeat(253);
    const paths = [accessLogSocketPath(longest, 'm'.repeat(253)), accessLogSocketPath(longest, 'default'), accessLogSocketPath(`${longest.slice(1)}x`, 'default')];
    for (const path of paths) assert.ok(Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES, `${path.length} bytes`);
    assert.equal(new Set(paths).size, 3, 'different dataplanes get different sockets');
    assert.equal(accessLogSocketPath(longest, 'default'), paths[1], 'both sides derive the same path');
    // The kernel agrees: a server can listen on the longest one.
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.listen(paths[0], resolve).on('error', reject));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

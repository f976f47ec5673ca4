import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { grpcDefinitions } from '../xds/protos.js';
import { shutdownGrpcServer } from '../xds/server/grpc-shutdown.js';
import { decodeLogName } from '../xds/generators/traffic-log.js';
import { compileFormat, type CompiledFormat, type EntryKind } from './access-log-format.js';

/**
 * The sidecar's access log forwarder (kuma-dp's role for TrafficLog TCP backends): an Envoy
 * AccessLogService on a Unix socket. Envoy streams structured entries to it; each stream's
 * `log_name` carries the backend's `host:port` and format (see `encodeLogName`); every entry is
 * rendered as a line and written to a TCP connection to that backend.
 *
 * A backend that is down does not hold Envoy up: lines wait in a bounded queue while the
 * connection is retried (with backoff), and the oldest are dropped, counted and reported, past it.
 */

const SERVICE = 'envoy.service.accesslog.v3.AccessLogService';
const MAX_QUEUED_LINES = 10_000;

/** One TCP connection to a logging backend, reconnected with backoff while lines are queued. */
class TcpLogSink {
  private socket: Socket | undefined;
  private connected = false;
  private queue: string[] = [];
  private retryMs = 200;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  write(line: string): void {
    if (this.closed) return;
    if (this.connected && this.socket) {
      this.socket.write(line);
      return;
    }
    this.queue.push(line);
    if (this.queue.length > MAX_QUEUED_LINES) {
      this.queue.shift();
      if (this.dropped++ % 1000 === 0) this.log.warn({ backend: `${this.host}:${this.port}`, dropped: this.dropped }, 'logging backend unreachable: dropping the oldest access log lines');
    }
    if (!this.socket && !this.timer) this.open();
  }

  private open(): void {
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      this.connected = true;
      this.retryMs = 200;
      const pending = this.queue;
      this.queue = [];
      if (pending.length) socket.write(pending.join(''));
    });
    socket.on('error', (err) => this.log.debug({ backend: `${this.host}:${this.port}`, err: err.message }, 'logging backend connection failed'));
    socket.once('close', () => {
      this.connected = false;
      this.socket = undefined;
      if (this.closed || this.queue.length === 0) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.closed && !this.socket) this.open();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.end();
  }
}

/** `host:port` or `[v6]:port` to its parts; undefined when malformed. */
function parseHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export interface AccessLogForwarder {
  socketPath: string;
  close(): Promise<void>;
}

interface StreamMessage {
  identifier?: { log_name?: string };
  http_logs?: { log_entry?: object[] };
  tcp_logs?: { log_entry?: object[] };
}

export async function startAccessLogForwarder(socketPath: string, log: Logger): Promise<AccessLogForwarder> {
  const sinks = new Map<string, TcpLogSink>();
  const formats = new Map<string, CompiledFormat>();

  const targetOf = (logName: string): { sink: TcpLogSink; format: CompiledFormat } | undefined => {
    const decoded = decodeLogName(logName);
    const hostPort = decoded && parseHostPort(decoded.address);
    if (!decoded || !hostPort) return undefined;
    let sink = sinks.get(decoded.address);
    if (!sink) sinks.set(decoded.address, (sink = new TcpLogSink(hostPort.host, hostPort.port, log)));
    let format = formats.get(decoded.format);
    if (!format) {
      formats.set(decoded.format, (format = compileFormat(decoded.format)));
      if (format.unknown.length) log.warn({ operators: format.unknown }, 'access log format uses operators this forwarder does not know; they render as "-"');
    }
    return { sink, format };
  };

  const implementation: grpc.UntypedServiceImplementation = {
    StreamAccessLogs(call: grpc.ServerReadableStream<StreamMessage, object>, callback: grpc.sendUnaryData<object>) {
      let target: ReturnType<typeof targetOf>;
      let failed = false;
      call.on('data', (message: StreamMessage) => {
        if (failed) return;
        // Envoy names the log in the first message of a stream only.
        if (message.identifier?.log_name) target = targetOf(message.identifier.log_name);
        if (!target) {
          failed = true;
          log.warn({ logName: message.identifier?.log_name }, 'access log stream without a usable log name ("host:port;format"); refusing it');
          callback({ code: grpc.status.INVALID_ARGUMENT, details: 'the first message must carry identifier.log_name "host:port;format"' });
          return;
        }
        const [kind, entries]: [EntryKind, object[]] = message.tcp_logs ? ['tcp', message.tcp_logs.log_entry ?? []] : ['http', message.http_logs?.log_entry ?? []];
        for (const entry of entries) {
          const line = target.format.render(entry, kind);
          target.sink.write(line.endsWith('\n') ? line : `${line}\n`);
        }
      });
      call.on('end', () => {
        if (!failed) callback(null, {});
      });
      call.on('error', () => {});
    },
  };

  const server = new grpc.Server();
  server.addService(grpcDefinitions[SERVICE] as grpc.ServiceDefinition, implementation);
  rmSync(socketPath, { force: true }); // a socket left by an earlier run would make bind fail
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new Error(`cannot listen for access logs on ${socketPath}: ${err.message}`)) : resolve())),
  );
  return {
    socketPath,
    async close() {
      await shutdownGrpcServer(server); // Envoy keeps its log streams open
      for (const sink of sinks.values()) sink.close();
      rmSync(socketPath, { force: true });
    },
  };
}

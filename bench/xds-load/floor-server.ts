/**
 * The floor of the push path: a bare grpc-js ADS server with no control-plane logic, forked by
 * run.ts. Each stream gets `messages` responses in turn (each after the previous one's ACK) of a
 * `bytes`-sized EDS resource, then waits; `push` sends every stream one more and reports when the
 * writes began. What the control plane does on top of this (generation, versions, bookkeeping) is
 * what the benchmark's ratios to the floor measure.
 *
 * IPC in: {cmd: 'listen', messages, bytes}, {cmd: 'push', bytes}, {cmd: 'stop'}.
 * IPC out: {ev: 'listening', port}, {ev: 'pushed', at, streams}.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { grpcDefinitions } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { XDS_SERVER_OPTIONS } from '../../src/xds/server/grpc-options.js';

type Msg = Record<string, any>;

interface FloorStream {
  call: grpc.ServerDuplexStream<Msg, Msg>;
  sent: number;
  nonce: string;
}

const streams = new Set<FloorStream>();
let messages = 5;
let payload = randomBytes(1024);
let version = 0;
const send = (message: unknown) => process.send?.(message);

function respond(stream: FloorStream): void {
  stream.sent++;
  stream.nonce = String(stream.sent);
  stream.call.write({ version_info: String(++version), type_url: TYPE_URLS.endpoint, nonce: stream.nonce, resources: [{ type_url: TYPE_URLS.endpoint, value: payload }] });
}

const server = new grpc.Server(XDS_SERVER_OPTIONS);
const ads = (grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition | undefined)!;
server.addService(ads, {
  StreamAggregatedResources(call: grpc.ServerDuplexStream<Msg, Msg>) {
    const stream: FloorStream = { call, sent: 0, nonce: '' };
    streams.add(stream);
    call.on('data', (request: Msg) => {
      const nonce = String(request.response_nonce ?? '');
      if (nonce === '' && stream.sent === 0) respond(stream); // the first request
      else if (nonce === stream.nonce && stream.sent < messages) respond(stream); // an ACK during the sync
    });
    call.on('error', () => {});
    call.on('end', () => {
      streams.delete(stream);
      call.end();
    });
  },
  DeltaAggregatedResources(call: grpc.ServerDuplexStream<Msg, Msg>) {
    call.end();
  },
});

process.on('message', (m: { cmd: string; messages?: number; bytes?: number }) => {
  if (m.cmd === 'listen') {
    messages = m.messages ?? messages;
    payload = randomBytes(m.bytes ?? 1024);
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) throw err;
      send({ ev: 'listening', port });
    });
  } else if (m.cmd === 'push') {
    payload = randomBytes(m.bytes ?? payload.length);
    const at = performance.timeOrigin + performance.now();
    for (const stream of streams) respond(stream);
    send({ ev: 'pushed', at, streams: streams.size });
  } else if (m.cmd === 'stop') {
    server.forceShutdown();
    process.exit(0);
  }
});

/**
 * A load-generator process: holds its share of the proxies (one EnvoyStream each) and answers the
 * orchestrator over IPC. Messages in: {cmd: 'start', addresses, nodes}, {cmd: 'mark'} (start of a
 * phase), {cmd: 'report', brief?} (per-stream last ACK since the mark; brief: only how many), {cmd: 'stop'}.
 */
import { DeltaEnvoyStream } from './delta-stream.js';
import { EnvoyStream } from './envoy-stream.js';
import { FloorStream } from './floor-stream.js';

interface Start {
  cmd: 'start';
  /** The control planes' xDS addresses: node i connects to addresses[i % length]. */
  addresses: string[];
  nodes: string[];
  /** Streams opened at once before waiting for some to sync (a fleet does not start in one instant). */
  concurrency: number;
  /** The floor measurement (floor-server.ts): FloorStreams synced after this many ACKs. */
  floorMessages?: number;
  /** Speak incremental (delta) ADS instead of state of the world. */
  delta?: boolean;
}

type Stream = EnvoyStream | DeltaEnvoyStream | FloorStream;
const streams: Stream[] = [];
/** Which of the start message's addresses each stream uses. */
const instanceOf = new Map<Stream, number>();
let markAt = 0;
let synced = 0;

const send = (message: unknown) => process.send?.(message);

async function start(m: Start): Promise<void> {
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const launch = () => {
      while (inFlight < m.concurrency && next < m.nodes.length) {
        const instance = next % m.addresses.length;
        const onSynced = (s: { syncedAt: number | undefined }) => {
          inFlight--;
          synced++;
          send({ ev: 'synced', at: s.syncedAt });
          if (synced === m.nodes.length) resolve();
          else launch();
        };
        const node = m.nodes[next++]!;
        const address = m.addresses[instance]!;
        const stream = m.floorMessages ? new FloorStream(address, node, m.floorMessages, onSynced) : m.delta ? new DeltaEnvoyStream(address, node, onSynced) : new EnvoyStream(address, node, onSynced);
        inFlight++;
        streams.push(stream);
        instanceOf.set(stream, instance);
        stream.start();
      }
    };
    launch();
  });
}

process.on('message', (m: { cmd: string } & Record<string, any>) => {
  switch (m.cmd) {
    case 'start':
      void start(m as Start);
      break;
    case 'mark':
      // A full collection before each timed phase (node --expose-gc), so that the phase is not
      // charged a major GC of the 10,000 streams' state: real proxies do not collect each other's
      // garbage. The floor's load generators get the same.
      globalThis.gc?.();
      markAt = performance.timeOrigin + performance.now();
      send({ ev: 'marked' });
      break;
    case 'report': {
      // Brief while a phase runs: how many streams have ACKed since the mark; in full, their times too.
      let updated = 0;
      let lastActivity = 0;
      for (const s of streams) {
        if (s.stats.lastAckAt > markAt) updated++;
        if (s.stats.lastAckAt > lastActivity) lastActivity = s.stats.lastAckAt;
      }
      const cpu = process.cpuUsage();
      const common = { ev: 'report', updated, lastActivity, cpuS: (cpu.user + cpu.system) / 1e6 };
      if (m.brief) {
        send({ ...common, acks: [], acksInstance: [], bytes: 0, drops: 0, responses: 0, rssMb: 0 });
        break;
      }
      const acked = streams.filter((s) => s.stats.lastAckAt > markAt);
      const totals = streams.reduce((t, s) => ({ bytes: t.bytes + s.stats.bytes, drops: t.drops + s.stats.drops, responses: t.responses + s.stats.responses }), { bytes: 0, drops: 0, responses: 0 });
      send({ ...common, acks: acked.map((s) => s.stats.lastAckAt), acksInstance: acked.map((s) => instanceOf.get(s) ?? 0), ...totals, rssMb: process.memoryUsage().rss / 1048576 });
      break;
    }
    case 'stop':
      for (const s of streams) s.close();
      setTimeout(() => process.exit(0), 200);
      break;
  }
});

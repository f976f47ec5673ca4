import type { ServerOptions } from '@grpc/grpc-js';

/**
 * The options of every xDS and SDS gRPC server. Channelz is off: Skiff serves no channelz
 * service, so its per-connection and per-message bookkeeping (a registry entry, call trackers and
 * a trace line per connection, a timestamp per message) was work and memory nobody could read.
 * The benchmark's floor server uses the same options, so its figures stay the bare cost of grpc-js.
 */
export const XDS_SERVER_OPTIONS: ServerOptions = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.enable_channelz': 0,
};

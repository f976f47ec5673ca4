import * as grpc from '@grpc/grpc-js';
import { grpcDefinitions } from '../../src/xds/protos.js';

/**
 * Plays Envoy's side of the gRPC access log service: one StreamAccessLogs call over a Unix socket,
 * carrying the messages given (the first should name the log), then half-closed. Resolves with the
 * call's status.
 */
export async function streamAccessLogs(socketPath: string, messages: object[]): Promise<grpc.StatusObject & { error?: grpc.ServiceError }> {
  const Client = grpc.makeGenericClientConstructor(grpcDefinitions['envoy.service.accesslog.v3.AccessLogService'] as grpc.ServiceDefinition, 'AccessLogService');
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve) => {
      let status: grpc.StatusObject | undefined;
      let error: grpc.ServiceError | undefined;
      let answered = false;
      const finish = () => {
        if (answered && status) resolve({ ...status, error });
      };
      const call = (client as unknown as Record<string, (cb: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<object>>).StreamAccessLogs!.call(client, (err) => {
        error = err ?? undefined;
        answered = true;
        finish();
      });
      call.on('status', (s: grpc.StatusObject) => {
        status = s;
        finish();
      });
      for (const m of messages) call.write(m);
      call.end();
    });
  } finally {
    client.close();
  }
}

/** An Envoy-like node identifier for the first message of a stream. */
export const identifier = (logName: string) => ({ node: { id: 'default.web-1', cluster: 'web' }, log_name: logName });

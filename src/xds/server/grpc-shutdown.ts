import type { Server } from '@grpc/grpc-js';

/**
 * Stops a gRPC server: streams are long-lived and a peer may never leave, so it waits `graceMs`
 * for them to end, then cuts what remains.
 */
export function shutdownGrpcServer(server: Server, graceMs = 1000): Promise<void> {
  return new Promise<void>((done) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      done();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      done();
    });
  });
}

import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { selectConnectionPolicy } from '../../core/policy-matching.js';
import type { Tags } from '../../core/tags.js';

type Obj = Record<string, unknown>;

/** Kuma's default access log format for TCP traffic. */
export const DEFAULT_LOG_FORMAT = '[%START_TIME%] %DOWNSTREAM_REMOTE_ADDRESS%->%UPSTREAM_HOST% took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes';

interface LogBackend {
  name: string;
  format?: string;
  filePath?: string;
  tcpAddress?: string;
}

/** The Mesh's logging backends in either form: Kuma 0.3's `{name, format, file|tcp}` or `{name, type, conf}`. */
function backendsOf(meshSpec: Obj): { backends: LogBackend[]; defaultBackend?: string } {
  const logging = (meshSpec.logging ?? {}) as Obj;
  const backends = ((logging.backends as Obj[] | undefined) ?? []).map((b) => {
    const conf = (b.conf ?? {}) as Obj;
    const file = (b.file as Obj | undefined)?.path ?? (b.type === 'file' ? conf.path : undefined);
    const tcp = (b.tcp as Obj | undefined)?.address ?? (b.type === 'tcp' ? conf.address : undefined);
    return { name: String(b.name), format: typeof b.format === 'string' ? b.format : undefined, filePath: file as string | undefined, tcpAddress: tcp as string | undefined };
  });
  return { backends, defaultBackend: typeof logging.defaultBackend === 'string' ? logging.defaultBackend : undefined };
}

/**
 * The `access_log` of an outbound from a proxy (its inbound tag sets, its address) to `service`:
 * the most specific TrafficLog selects a backend (`conf.backend`, else the mesh's default) and its
 * format gets Kuma's placeholders resolved. File backends only: TCP backends need a log forwarder
 * (kuma-dp's role) that Skiff does not have yet, so they produce no access log.
 */
export function accessLogFor(mesh: MeshSnapshot, sourceTags: readonly Tags[], sourceService: string, sourceAddress: string, service: string): unknown[] {
  const policy = selectConnectionPolicy(mesh.trafficLogs, sourceTags, { 'kuma.io/service': service });
  if (!policy) return [];
  const { backends, defaultBackend } = backendsOf(mesh.meshSpec);
  const name = policy.backend ?? defaultBackend;
  const backend = backends.find((b) => b.name === name);
  if (!backend?.filePath) return [];
  const format = (backend.format ?? DEFAULT_LOG_FORMAT)
    .replaceAll('%KUMA_SOURCE_SERVICE%', sourceService)
    .replaceAll('%KUMA_DESTINATION_SERVICE%', service)
    .replaceAll('%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%', sourceAddress)
    .replaceAll('%KUMA_SOURCE_ADDRESS%', `${sourceAddress}:0`)
    .replaceAll('%KUMA_MESH%', mesh.mesh);
  return [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path: backend.filePath,
        log_format: { text_format_source: { inline_string: `${format}\n` } },
      },
    },
  ];
}

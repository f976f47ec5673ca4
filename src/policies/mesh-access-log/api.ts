import type { Causes } from '../../core/validate.js';
import type { PolicyDefinition } from '../policy.js';
import { any, bool, list, obj, oneOf, str } from '../schema.js';

/** MeshAccessLog (Kuma 2.x): file, TCP and OpenTelemetry access logs, per Kuma's `meshaccesslog/api/v1alpha1`. */
export interface LogFormat {
  type: 'Plain' | 'Json';
  plain?: string;
  json?: Array<{ key: string; value: string }>;
  omitEmptyValues?: boolean;
}
export interface Backend {
  file?: { path: string; format?: LogFormat };
  tcp?: { address: string; format?: LogFormat };
  openTelemetry?: { endpoint: string; body?: unknown; attributes?: Array<{ key: string; value: string }> };
}
export interface AccessLogConf {
  backends?: Backend[];
}

const format = obj({ type: oneOf('Plain', 'Json'), plain: str(), json: list(obj({ key: str(), value: str(false) }, { required: ['key', 'value'] }), true), omitEmptyValues: bool }, { required: ['type'] });
const backend = obj(
  {
    file: obj({ path: str(), format }, { required: ['path'] }),
    tcp: obj({ address: str(), format }, { required: ['address'] }),
    openTelemetry: obj({ endpoint: str(), body: any, attributes: list(obj({ key: str(), value: str(false) }, { required: ['key', 'value'] })) }, { required: ['endpoint'] }),
  },
  { atLeastOne: true },
);

/** `host:port` with a port in range; the host a name or an address. */
export function hostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : 0;
  return m && port >= 1 && port <= 65535 ? { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port } : undefined;
}

function checkBackends(backends: Backend[], path: string, causes: Causes): void {
  backends.forEach((b, i) => {
    const at = `${path}.backends[${i}]`;
    const kinds = (['file', 'tcp', 'openTelemetry'] as const).filter((k) => b[k] !== undefined);
    if (kinds.length > 1) causes.add(at, "must have only one type defined: 'tcp', 'file' or 'openTelemetry'");
    for (const [kind, fmt] of [['file', b.file?.format], ['tcp', b.tcp?.format]] as const) {
      if (fmt?.type === 'Plain' && fmt.plain === undefined) causes.add(`${at}.${kind}.format.plain`, 'must be defined with type Plain');
      if (fmt?.type === 'Json' && fmt.json === undefined) causes.add(`${at}.${kind}.format.json`, 'must be defined with type Json');
    }
    if (b.file && !b.file.path.startsWith('/')) causes.add(`${at}.file.path`, 'must be an absolute path');
    if (b.tcp && !hostPort(b.tcp.address.replace(/^tcp:\/\//, ''))) causes.add(`${at}.tcp.address`, 'must be an address such as "127.0.0.1:5000" or "logs.local:5000"');
    if (b.openTelemetry && !hostPort(b.openTelemetry.endpoint)) causes.add(`${at}.openTelemetry.endpoint`, 'must be host:port, e.g. "otel-collector:4317"');
  });
}

export const MESH_ACCESS_LOG: PolicyDefinition = {
  name: 'MeshAccessLog',
  plural: 'meshaccesslogs',
  to: ['Mesh', 'MeshService'],
  from: ['Mesh'],
  rules: true,
  conf: obj({ backends: list(backend) }, { required: ['backends'] }),
  checkConf(conf, path, causes) {
    checkBackends(conf.backends as Backend[], path, causes);
  },
};

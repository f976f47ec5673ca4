import { Type, type Static, type TSchema, type TProperties } from '@sinclair/typebox';

/**
 * The whole configuration tree of `skiff-cp`, in the shape of Kuma's `kuma-cp.conf`.
 *
 * Every leaf has a default, so an empty file is a complete configuration. Keys whose
 * feature is not built yet are still accepted (and documented in docs/configuration.md),
 * so a config file written for a later version keeps loading.
 *
 * Leaves marked `secret: true` are masked by `redactConfig` wherever the config is shown.
 */

/** A nested section: unknown keys are rejected, missing ones take their defaults. */
function section<P extends TProperties>(properties: P) {
  return Type.Object(properties, { additionalProperties: false, default: {} });
}

const port = (def: number) => Type.Integer({ minimum: 0, maximum: 65535, default: def });
const str = (def: string) => Type.String({ default: def });
const bool = (def: boolean) => Type.Boolean({ default: def });
const secretStr = () => Type.String({ default: '', secret: true });
const strList = (def: string[]) => Type.Array(Type.String(), { default: def });
/** Go-style duration as Kuma writes them: "1s", "500ms", "1h30m". */
const duration = (def: string) =>
  Type.String({ default: def, pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$', description: 'duration' });

const subjects = (users: string[], groups: string[]) => section({ users: strList(users), groups: strList(groups) });
const ADMIN = 'mesh-system:admin';
const ANYONE = ['mesh-system:unauthenticated', 'mesh-system:authenticated'];

export const ConfigSchema = section({
  environment: Type.Union([Type.Literal('universal'), Type.Literal('kubernetes')], { default: 'universal' }),
  general: section({
    workDir: str('.'),
    advertisedHostname: str('localhost'),
  }),
  store: section({
    type: Type.Union([Type.Literal('sqlite'), Type.Literal('memory'), Type.Literal('postgres')], { default: 'sqlite' }),
    sqlite: section({ path: str('skiff.db') }),
    postgres: section({
      host: str('127.0.0.1'),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432 }),
      user: str('kuma'),
      password: secretStr(),
      dbName: str('kuma'),
      connectionTimeout: Type.Integer({ minimum: 1, default: 5, description: 'seconds' }),
      maxOpenConnections: Type.Integer({ minimum: 1, default: 20 }),
      // Skiff additions (several instances on one database): an instance silent for heartbeatInterval
      // is dead; followers try to take the leader lock every leaderElectionInterval.
      heartbeatInterval: duration('5s'),
      leaderElectionInterval: duration('1s'),
    }),
  }),
  apiServer: section({
    http: section({ port: port(5681), interface: str('0.0.0.0') }),
    https: section({ port: port(5682), interface: str('0.0.0.0'), tlsCertFile: str(''), tlsKeyFile: str('') }),
    readOnly: bool(false),
    corsAllowedDomains: strList([]),
    auth: section({ clientCertsDir: str('') }),
    authn: section({
      type: Type.Union([Type.Literal('tokens'), Type.Literal('adminClientCerts')], { default: 'tokens' }),
      localhostIsAdmin: bool(true),
      tokens: section({
        bootstrapAdminToken: bool(true),
        enableIssuer: bool(true),
        // Skiff addition: the longest validFor POST /tokens/user accepts ("" = no limit).
        maxValidFor: Type.String({ default: '', pattern: '^(([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)?$', description: 'duration' }),
        validator: section({
          useSecrets: bool(true),
          publicKeys: Type.Array(
            Type.Object(
              { kid: Type.String(), key: Type.Optional(Type.String()), keyFile: Type.Optional(Type.String()) },
              { additionalProperties: false },
            ),
            { default: [] },
          ),
        }),
      }),
    }),
  }),
  access: section({
    type: Type.Literal('static', { default: 'static' }),
    static: section({
      adminResources: subjects([], [ADMIN]),
      generateDpToken: subjects([], [ADMIN]),
      generateUserToken: subjects([], [ADMIN]),
      generateZoneToken: subjects([], [ADMIN]),
      viewConfigDump: subjects([], ANYONE),
      viewStats: subjects([], ANYONE),
      viewClusters: subjects([], ANYONE),
      controlPlaneMetadata: subjects([], ANYONE),
    }),
  }),
  xdsServer: section({
    grpcPort: port(5678),
    dataplaneConfigurationRefreshInterval: duration('1s'),
    dataplaneStatusFlushInterval: duration('1s'),
    tlsEnabled: bool(true),
    tlsCertFile: str(''),
    tlsKeyFile: str(''),
  }),
  sdsServer: section({ grpcPort: port(5677), tlsCertFile: str(''), tlsKeyFile: str('') }),
  dpServer: section({
    authn: section({
      dpProxy: section({
        type: Type.Union([Type.Literal('dpToken'), Type.Literal('serviceAccountToken'), Type.Literal('none')], {
          default: 'dpToken',
        }),
      }),
    }),
  }),
  dataplaneTokenServer: section({ enabled: bool(true), local: section({ port: port(5679) }) }),
  diagnostics: section({ serverPort: port(5680) }),
  guiServer: section({ port: port(5683) }),
  bootstrapServer: section({
    params: section({
      xdsHost: str(''),
      xdsPort: port(5678),
      xdsConnectTimeout: duration('1s'),
      adminAddress: str('127.0.0.1'),
      adminPort: port(0),
      adminAccessLogPath: str('/dev/null'),
    }),
  }),
  defaults: section({ skipMeshCreation: bool(false) }),
});

export type Config = Static<typeof ConfigSchema>;

/** True when a schema node is a nested section (an object we descend into), not a leaf. */
export function isSection(schema: TSchema): boolean {
  return schema.type === 'object' && schema.properties !== undefined && schema.additionalProperties === false && 'default' in schema;
}

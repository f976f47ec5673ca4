#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { redactConfig } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import { startControlPlane } from '../server.js';
import { migrateUp } from '../store/postgres/migrations.js';
import { createPool, PostgresConnectionError } from '../store/postgres/postgres-store.js';
import { postgresOptions } from '../store/open.js';
import { VERSION } from '../version.js';
import { runCli, UsageError } from './run.js';

const HELP = {
  root: `skiff-cp: the Skiff control plane (Kuma-compatible)

Usage:
  skiff-cp [command]

Commands:
  run          Launch the control plane
  migrate up   Create or upgrade the PostgreSQL schema
  version      Print the version
  help         Help about any command

Flags:
  -h, --help   help for skiff-cp

Use "skiff-cp [command] --help" for more information about a command.
`,
  run: `Launch the control plane: REST API (5681), diagnostics (5680), on the configured store.

Usage:
  skiff-cp run [flags]

Flags:
  -c, --config-file string   YAML configuration file (the kuma-cp.conf tree); KUMA_* variables override it
      --log-level string     off, error, warn, info or debug (default "info")
  -h, --help                 help for run

The store is SQLite (skiff.db in general.workDir) unless KUMA_STORE_TYPE says memory or postgres.
`,
  migrate: `Create or upgrade the PostgreSQL schema of store.postgres.

Usage:
  skiff-cp migrate up [flags]

Flags:
  -c, --config-file string   YAML configuration file; KUMA_STORE_POSTGRES_* variables override it
  -h, --help                 help for migrate up
`,
  version: `Print the version of skiff-cp.

Usage:
  skiff-cp version [flags]

Flags:
  -a, --detailed   print detailed version
  -h, --help       help for version
`,
};

const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug'] as const;

function createLogger(level: string): Logger {
  return pino({
    level: level === 'off' ? 'silent' : level,
    // Defence in depth: none of our log calls pass secrets, and these paths are masked if one ever does.
    redact: {
      paths: ['password', '*.password', 'data', '*.data', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization'],
      censor: '*****',
    },
  });
}

const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const;
const CONFIG_FLAG = { 'config-file': { type: 'string', short: 'c' } } as const;

function load(configFile: string | undefined, logger: Logger): Config {
  const { config, warnings } = loadConfig({ configFile, env: process.env });
  for (const warning of warnings) logger.warn(warning);
  return config;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...HELP_FLAG, ...CONFIG_FLAG, 'log-level': { type: 'string', default: 'info' } } });
  if (values.help) return print(HELP.run);
  const level = values['log-level'];
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  // Everything the control plane writes holds or guards secrets; the explicit modes of the store and
  // the certificates are the rule, the umask the safety net for whatever a dependency creates.
  process.umask(0o077);
  const logger = createLogger(level);
  const config = load(values['config-file'], logger);
  logger.info({ config: redactConfig(config) }, `starting Skiff control plane ${VERSION}`);
  const cp = await startControlPlane(config, logger);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn(`${signal} again: exiting without waiting`);
        process.exit(1);
      }
      stopping = true;
      logger.info(`${signal}: shutting down gracefully`);
      cp.close().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  return 0;
}

async function migrate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...HELP_FLAG, ...CONFIG_FLAG }, allowPositionals: true });
  if (values.help || positionals[0] !== 'up') {
    if (!values.help) process.stderr.write('Error: expected "skiff-cp migrate up"\n\n');
    print(HELP.migrate);
    return values.help ? 0 : 2;
  }
  const logger = createLogger('info');
  const config = load(values['config-file'], logger);
  if (config.store.type !== 'postgres') {
    logger.info(`store type is ${config.store.type}: its schema is created on start, nothing to migrate`);
    return 0;
  }
  const options = postgresOptions(config);
  const pool = createPool(options, (err) => logger.warn({ err: err.message }, 'PostgreSQL connection error'));
  try {
    const applied = await migrateUp(pool).catch((err: unknown) => {
      throw (err as { code?: string }).code?.match(/^(08|28|3D|ECONN|ENOTFOUND|ETIMEDOUT)/) ? new PostgresConnectionError(options, err) : err;
    });
    logger.info(applied.length ? `applied migrations ${applied.join(', ')}` : 'schema is up to date');
  } finally {
    await pool.end();
  }
  return 0;
}

function version(args: string[]): number {
  const { values } = parseArgs({ args, options: { ...HELP_FLAG, detailed: { type: 'boolean', short: 'a' } } });
  if (values.help) return print(HELP.version);
  if (values.detailed) print(`Product:    Skiff\nVersion:    ${VERSION}\nBased on:   Kuma 2.14.3 APIs\nNode.js:    ${process.version}\n`);
  else print(`${VERSION}\n`);
  return 0;
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'migrate':
      return migrate(rest);
    case 'version':
      return version(rest);
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      if (command === 'help' && rest[0] && rest[0] in HELP) return print(HELP[rest[0] as keyof typeof HELP]);
      return print(HELP.root);
    default:
      throw new UsageError(`unknown command "${command}" for "skiff-cp"`);
  }
}

runCli('skiff-cp', main);

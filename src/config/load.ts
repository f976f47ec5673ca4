import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, isSection, type Config } from './schema.js';
import { readEnvOverlay } from './env.js';

/** A configuration that cannot be used; `problems` name each offending key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** Non-fatal findings to log at start-up (unknown KUMA_* variables). */
  warnings: string[];
}

export interface LoadOptions {
  /** Path of a YAML file in the kuma-cp.conf tree. */
  configFile?: string;
  /** Environment to overlay; defaults to nothing (callers pass process.env explicitly). */
  env?: NodeJS.ProcessEnv;
}

function readFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`config file ${path}: expected a mapping at the top`]);
  return doc as Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function pointerToKey(pointer: string): string {
  return pointer.split('/').filter(Boolean).join('.');
}

function describe(type: ValueErrorType, schema: TSchema, message: string): string {
  if (type === ValueErrorType.ObjectAdditionalProperties) return 'unknown key';
  const options = (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const).filter((c) => c !== undefined);
  if (type === ValueErrorType.Union && options?.length) return `must be one of: ${options.join(', ')}`;
  return message.toLowerCase();
}

/** Re-keys objects in the schema's order, so `/config` and logs read like the documented tree. */
function inSchemaOrder(schema: TSchema, value: unknown): unknown {
  if (!isSection(schema) || typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
    out[key] = inSchemaOrder(child, (value as Record<string, unknown>)[key]);
  }
  return out;
}

/**
 * Builds the effective configuration: defaults, then the YAML file, then `KUMA_*` variables.
 * Throws ConfigError listing every problem (unknown keys, bad types, out-of-range values).
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const raw: Record<string, unknown> = options.configFile ? readFile(options.configFile) : {};
  const overlay = readEnvOverlay(options.env ?? {});
  const problems = overlay.errors.map((e) => `${e.key}: ${e.message}`);
  const envKeyByPath = new Map<string, string>();
  for (const { leaf, value } of overlay.values) {
    setPath(raw, leaf.path, value);
    envKeyByPath.set(leaf.path.join('.'), leaf.envName);
  }

  const withDefaults = Value.Default(ConfigSchema, raw);
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const key = pointerToKey(error.path);
    const origin = envKeyByPath.get(key);
    const what = describe(error.type, error.schema, error.message);
    problems.push(`${key || '(root)'}${origin ? ` (from ${origin})` : ''}: ${what}`);
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  return {
    config: inSchemaOrder(ConfigSchema, withDefaults) as Config,
    warnings: overlay.unknown.map((name) => `unknown environment variable ${name} is ignored`),
  };
}

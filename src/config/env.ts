import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema, isSection } from './schema.js';

/** One configurable leaf of the tree with the Kuma-style environment variable that sets it. */
export interface ConfigLeaf {
  /** Path of keys from the root, e.g. ["store", "postgres", "dbName"]. */
  path: string[];
  /** `KUMA_` + the path in upper snake case, e.g. KUMA_STORE_POSTGRES_DB_NAME. */
  envName: string;
  schema: TSchema;
}

function upperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function collectLeaves(schema: TSchema, path: string[], out: ConfigLeaf[]): void {
  if (isSection(schema)) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
      collectLeaves(child, [...path, key], out);
    }
    return;
  }
  out.push({ path, envName: 'KUMA_' + path.map(upperSnake).join('_'), schema });
}

/** Every leaf of the config tree, derived from the schema so the two can never drift apart. */
export const CONFIG_LEAVES: readonly ConfigLeaf[] = (() => {
  const out: ConfigLeaf[] = [];
  collectLeaves(ConfigSchema, [], out);
  return out;
})();

const LEAF_BY_ENV = new Map(CONFIG_LEAVES.map((leaf) => [leaf.envName, leaf]));

export type EnvParse = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Converts an environment string to the leaf's JSON type. Lists follow Kuma's envconfig
 * (comma separated); lists of objects are JSON. Range and enum checks happen later, in
 * the one schema validation that also covers the file.
 */
export function parseEnvValue(schema: TSchema, raw: string): EnvParse {
  switch (schema.type) {
    case 'integer': {
      if (!/^-?[0-9]+$/.test(raw.trim())) return { ok: false, message: `expected an integer, got "${raw}"` };
      return { ok: true, value: Number(raw.trim()) };
    }
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === '1') return { ok: true, value: true };
      if (v === 'false' || v === '0') return { ok: true, value: false };
      return { ok: false, message: `expected true or false, got "${raw}"` };
    }
    case 'array': {
      const items = schema.items as TSchema;
      if (items.type === 'object') {
        try {
          return { ok: true, value: JSON.parse(raw) };
        } catch {
          return { ok: false, message: 'expected a JSON list' };
        }
      }
      return { ok: true, value: raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim()) };
    }
    default:
      return { ok: true, value: raw };
  }
}

export interface EnvOverlay {
  /** Values to set, keyed by leaf. */
  values: Array<{ leaf: ConfigLeaf; value: unknown }>;
  /** Variables whose value could not be read, with the reason. */
  errors: Array<{ key: string; message: string }>;
  /** `KUMA_*` variables that name no known key (warned about, not fatal, as Kuma does). */
  unknown: string[];
}

export function readEnvOverlay(env: NodeJS.ProcessEnv): EnvOverlay {
  const overlay: EnvOverlay = { values: [], errors: [], unknown: [] };
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('KUMA_') || raw === undefined) continue;
    const leaf = LEAF_BY_ENV.get(name);
    if (!leaf) {
      overlay.unknown.push(name);
      continue;
    }
    const parsed = parseEnvValue(leaf.schema, raw);
    if (parsed.ok) overlay.values.push({ leaf, value: parsed.value });
    else overlay.errors.push({ key: name, message: parsed.message });
  }
  return overlay;
}

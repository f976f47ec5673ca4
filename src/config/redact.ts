import type { TSchema } from '@sinclair/typebox';
import { CONFIG_LEAVES } from './env.js';
import type { Config } from './schema.js';

const MASK = '*****';
const SECRET_PATHS = CONFIG_LEAVES.filter((leaf) => (leaf.schema as TSchema & { secret?: boolean }).secret).map(
  (leaf) => leaf.path,
);

/** A deep copy of the config with every secret leaf replaced by `*****`, safe for `/config` and logs. */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const path of SECRET_PATHS) {
    let node: Record<string, unknown> | undefined = copy;
    for (const key of path.slice(0, -1)) node = node?.[key] as Record<string, unknown> | undefined;
    if (node) node[path[path.length - 1]!] = MASK;
  }
  return copy as unknown as Config;
}

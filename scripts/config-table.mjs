// Prints the configuration reference table of docs/configuration.md from the schema itself.
// Run after `npm run build`: node scripts/config-table.mjs
import { CONFIG_LEAVES } from '../dist/src/config/env.js';

console.log('| key | environment variable | default |');
console.log('| --- | --- | --- |');
for (const leaf of CONFIG_LEAVES) {
  const def = JSON.stringify(leaf.schema.default);
  const options = leaf.schema.anyOf ? ` (${leaf.schema.anyOf.map((s) => s.const).join(' \\| ')})` : '';
  console.log(`| \`${leaf.path.join('.')}\` | \`${leaf.envName}\` | \`${def}\`${options}${leaf.schema.secret ? ' (secret: masked)' : ''} |`);
}

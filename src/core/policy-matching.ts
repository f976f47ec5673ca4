import { matchesSelector, type Tags } from './tags.js';

/** A connection policy (source → destination), reduced to what selection needs. */
export interface ConnectionPolicy {
  name: string;
  sources: ReadonlyArray<Tags>;
  destinations: ReadonlyArray<Tags>;
}

/**
 * How specific a selector is: each tag with an exact value counts 2, each `*` counts 1, so
 * `{service: web, version: v1}` (4) beats `{service: web}` (2), which beats `{service: *}` (1).
 */
export function specificity(selector: Tags): number {
  return Object.values(selector).reduce((sum, value) => sum + (value === '*' ? 1 : 2), 0);
}

/**
 * Kuma's rule for connection policies: among the policies with a source selector matching one of
 * the source dataplane's tag sets and a destination selector matching the destination, the most
 * specific wins: by the best matching source selector, then the best destination selector. Ties
 * go to the policy whose name sorts first, so the choice never depends on store order.
 */
export function selectConnectionPolicy<P extends ConnectionPolicy>(policies: readonly P[], sourceTags: ReadonlyArray<Tags>, destination: Tags): P | undefined {
  let best: { policy: P; score: [number, number] } | undefined;
  for (const policy of policies) {
    const source = Math.max(-1, ...policy.sources.filter((s) => sourceTags.some((tags) => matchesSelector(s, tags))).map(specificity));
    const dest = Math.max(-1, ...policy.destinations.filter((d) => matchesSelector(d, destination)).map(specificity));
    if (source < 0 || dest < 0) continue;
    const score: [number, number] = [source, dest];
    const better = !best || score[0] > best.score[0] || (score[0] === best.score[0] && (score[1] > best.score[1] || (score[1] === best.score[1] && policy.name < best.policy.name)));
    if (better) best = { policy, score };
  }
  return best?.policy;
}

/** The most specific policy whose selectors match one of a dataplane's tag sets (ProxyTemplate); ties by name. */
export function selectDataplanePolicy<P extends { name: string; selectors: ReadonlyArray<Tags> }>(policies: readonly P[], tagSets: ReadonlyArray<Tags>): P | undefined {
  let best: { policy: P; score: number } | undefined;
  for (const policy of policies) {
    const score = Math.max(-1, ...policy.selectors.filter((s) => tagSets.some((tags) => matchesSelector(s, tags))).map(specificity));
    if (score < 0) continue;
    if (!best || score > best.score || (score === best.score && policy.name < best.policy.name)) best = { policy, score };
  }
  return best?.policy;
}

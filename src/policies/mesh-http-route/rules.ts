import { cloneJson } from '../../core/clone.js';
import type { NormalizedDataplane } from '../../core/resources/dataplane.js';
import { mergeConf } from '../targetref.js';
import { selecting, type TargetRefPolicy } from '../policy.js';
import type { Match, PathMatch, RouteConf, Rule } from './api.js';

/** One route of an outbound: a match and the merged conf of every rule with that very match. */
export interface RouteEntry {
  match: Match;
  conf: RouteConf;
  /** The policies that contributed, in merge order. */
  origins: string[];
}

function comparePath(a: PathMatch | undefined, b: PathMatch | undefined): number {
  if (a && !b) return -1;
  if (!a && b) return 1;
  if (!a || !b) return 0;
  if (a.type === b.type) return a.type === 'Exact' ? 0 : b.value.length - a.value.length;
  const rank = { Exact: 0, PathPrefix: 1, RegularExpression: 2 };
  return rank[a.type] - rank[b.type];
}

/** Kuma's CompareMatch: exact paths, then longer prefixes and regexes, then method, more headers, more query parameters. */
export function compareMatch(a: Match, b: Match): number {
  return (
    comparePath(a.path, b.path) ||
    (a.method && !b.method ? -1 : !a.method && b.method ? 1 : 0) ||
    (b.headers?.length ?? 0) - (a.headers?.length ?? 0) ||
    (b.queryParams?.length ?? 0) - (a.queryParams?.length ?? 0)
  );
}

/**
 * The routes of the dataplane's outbound to `service`, or undefined when no MeshHTTPRoute selecting
 * it names that service. The rules of the selecting policies (in merge order) are taken match by
 * match; rules with the same match merge their `default`s (the later wins field by field), and
 * the routes are ordered most specific match first, as Kuma orders them.
 */
export function httpRoutes(policies: readonly TargetRefPolicy[], name: string, dataplane: NormalizedDataplane, service: string): RouteEntry[] | undefined {
  const byMatch = new Map<string, RouteEntry>();
  let applies = false;
  for (const policy of selecting(policies, name, dataplane)) {
    for (const entry of policy.to) {
      if (entry.targetRef.kind !== 'MeshService' || entry.targetRef.name !== service) continue;
      applies = true;
      for (const rule of (entry.rules ?? []) as unknown as Rule[]) {
        for (const match of rule.matches?.length ? rule.matches : [{}]) {
          const key = JSON.stringify(match);
          const known = byMatch.get(key);
          if (known) {
            known.conf = mergeConf(known.conf, rule.default);
            known.origins.push(policy.name);
          } else byMatch.set(key, { match, conf: cloneJson(rule.default), origins: [policy.name] });
        }
      }
    }
  }
  if (!applies) return undefined;
  return [...byMatch.values()].sort((a, b) => compareMatch(a.match, b.match));
}

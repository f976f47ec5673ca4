import type { NormalizedDataplane } from '../../core/resources/dataplane.js';
import { mergeConf, selectsDataplane, specificity } from '../targetref.js';
import type { MeshTimeoutPolicy, TimeoutConf } from './api.js';

/**
 * Kuma's merge for MeshTimeout: the policies selecting the dataplane, least specific top-level
 * targetRef first and by name within a level, contribute their matching `to` entries (per outbound
 * service: those targeting Mesh or a MeshService of that name, in the order written) or their
 * `from`/`rules` entries, each `default` merged over the ones before it field by field.
 */

/** The MeshTimeouts selecting the dataplane, in merge order. */
export function selecting(policies: readonly MeshTimeoutPolicy[], name: string, dataplane: NormalizedDataplane): MeshTimeoutPolicy[] {
  return policies
    .filter((p) => selectsDataplane(p.targetRef, name, dataplane))
    .sort((a, b) => specificity(a.targetRef) - specificity(b.targetRef) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The conf for the dataplane's outbound to `service`, or undefined when no MeshTimeout applies. */
export function outboundTimeouts(policies: readonly MeshTimeoutPolicy[], name: string, dataplane: NormalizedDataplane, service: string): TimeoutConf | undefined {
  let conf: TimeoutConf | undefined;
  for (const policy of selecting(policies, name, dataplane)) {
    // Entries in the order written, as Kuma's rule building appends them.
    const entries = policy.to.filter((e) => e.targetRef.kind === 'Mesh' || (e.targetRef.kind === 'MeshService' && e.targetRef.name === service));
    for (const entry of entries) conf = mergeConf(conf, entry.default);
  }
  return conf;
}

/** The conf for the dataplane's inbounds, or undefined when no MeshTimeout has `from` or `rules` for it. */
export function inboundTimeouts(policies: readonly MeshTimeoutPolicy[], name: string, dataplane: NormalizedDataplane): TimeoutConf | undefined {
  let conf: TimeoutConf | undefined;
  for (const policy of selecting(policies, name, dataplane)) for (const entry of policy.from) conf = mergeConf(conf, entry.default);
  return conf;
}

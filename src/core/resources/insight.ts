import { Causes, checkKnownFields, listAt, type Obj } from '../validate.js';

/** DataplaneInsight is written by the control plane itself; the check only guards its frame. */
export function validateDataplaneInsight(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, ['subscriptions', 'mTLS', 'metadata'], '', causes);
  listAt(spec, 'subscriptions', '', causes, false);
}

/**
 * Whether a DataplaneInsight says the proxy is connected: one of its subscriptions has not ended
 * and is held by one of the live control planes (`live`). So a control plane killed without closing
 * its streams leaves them looking connected only until it misses its heartbeats, not until the
 * proxy reconnects somewhere. Without `live`, the latest subscription decides.
 */
export function isOnline(insight: Record<string, unknown> | undefined, live?: ReadonlySet<string>): boolean {
  const subs = (insight?.subscriptions as Array<Record<string, unknown>> | undefined) ?? [];
  const open = (s: Record<string, unknown>) => s.connectTime !== undefined && s.disconnectTime === undefined;
  if (live === undefined) return subs.length > 0 && open(subs[subs.length - 1]!);
  return subs.some((s) => open(s) && live.has(String(s.controlPlaneInstanceId ?? '')));
}

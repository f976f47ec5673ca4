import { Causes, checkKnownFields, listAt, type Obj } from '../validate.js';

/** DataplaneInsight is written by the control plane itself; the check only guards its frame. */
export function validateDataplaneInsight(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, ['subscriptions', 'mTLS', 'metadata'], '', causes);
  listAt(spec, 'subscriptions', '', causes, false);
}

/**
 * Whether a DataplaneInsight says the proxy is connected: its latest subscription has not ended.
 * (A control plane killed without closing its streams leaves them looking connected until the
 * proxy reconnects somewhere and a newer subscription is recorded.)
 */
export function isOnline(insight: Record<string, unknown> | undefined): boolean {
  const subs = (insight?.subscriptions as Array<Record<string, unknown>> | undefined) ?? [];
  const last = subs[subs.length - 1];
  return last !== undefined && last.connectTime !== undefined && last.disconnectTime === undefined;
}

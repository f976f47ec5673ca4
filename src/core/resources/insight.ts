import { Causes, checkKnownFields, listAt, type Obj } from '../validate.js';

/** DataplaneInsight is written by the control plane itself; the check only guards its frame. */
export function validateDataplaneInsight(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, ['subscriptions', 'mTLS', 'metadata'], '', causes);
  listAt(spec, 'subscriptions', '', causes, false);
}

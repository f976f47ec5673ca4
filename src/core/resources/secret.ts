import { Causes, checkKnownFields, checkLabels, type Obj } from '../validate.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Secret and GlobalSecret: `data` is non-empty standard base64. Messages never quote the value. */
export function validateSecret(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, ['data', 'labels'], '', causes);
  checkLabels(spec, causes);
  const data = spec.data;
  if (data === undefined || data === null || data === '') causes.add('data', 'cannot be empty');
  else if (typeof data !== 'string' || !BASE64.test(data)) causes.add('data', 'must be a base64 encoded value');
}

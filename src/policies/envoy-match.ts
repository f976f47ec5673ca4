import type { Json } from './edits.js';

/** Kuma's common HeaderMatch (`{type?, name, value?}`, type Exact by default) as an Envoy HeaderMatcher. */
export function envoyHeaderMatcher(header: { type?: string; name: string; value?: string }): Json {
  const value = header.value ?? '';
  switch (header.type ?? 'Exact') {
    case 'Present':
      return { name: header.name, present_match: true };
    case 'Absent':
      return { name: header.name, present_match: false };
    case 'Prefix':
      return { name: header.name, string_match: { prefix: value } };
    case 'RegularExpression':
      return { name: header.name, string_match: { safe_regex: { regex: value } } };
    default:
      return { name: header.name, string_match: { exact: value } };
  }
}

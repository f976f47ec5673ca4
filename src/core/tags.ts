/** Tags of a dataplane inbound, e.g. `{"kuma.io/service": "backend", "version": "2.0"}`. */
export type Tags = Record<string, string>;

/** Kuma 0.3 wrote the service tag as `service`; Kuma 1.x and later as `kuma.io/service`. Both are accepted. */
export const SERVICE_TAGS = ['kuma.io/service', 'service'] as const;

/** The service a set of tags names, whichever spelling it uses. */
export function serviceOf(tags: Tags | undefined): string | undefined {
  if (!tags) return undefined;
  for (const key of SERVICE_TAGS) {
    const value = tags[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * Whether `tags` satisfy a selector's `match`: every selector tag must be present with the same
 * value, `*` matching any value. The two spellings of the service tag are interchangeable.
 */
export function matchesSelector(match: Tags, tags: Tags): boolean {
  for (const [key, want] of Object.entries(match)) {
    const have = isServiceTag(key) ? serviceOf(tags) : tags[key];
    if (have === undefined) return false;
    if (want !== '*' && want !== have) return false;
  }
  return true;
}

const isServiceTag = (key: string) => SERVICE_TAGS.includes(key as (typeof SERVICE_TAGS)[number]);

/**
 * The tags of a source selector that a peer's certificate cannot prove. A dataplane certificate is
 * an X509-SVID with one SPIFFE ID, `spiffe://{mesh}/{service}`, so the service is all an mTLS
 * peer can be authenticated by; a selector that says more (or names no service) would have to
 * be widened to be enforced, and a permission is never widened.
 */
export function unprovableSourceTags(match: Tags): string[] {
  return Object.keys(match).filter((key) => !isServiceTag(key));
}

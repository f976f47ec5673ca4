const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^([0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g;

/**
 * Parses a Go-style duration ("10s", "1m30s", "250ms") into milliseconds, as Kuma's
 * resources and config write them. Returns undefined for anything else, including "0"
 * without a unit and negative values, which Kuma's validators reject too.
 */
export function parseDuration(text: string): number | undefined {
  const known = parsed.get(text);
  if (known !== undefined || parsed.has(text)) return known;
  let total: number | undefined;
  if (DURATION.test(text)) {
    total = 0;
    for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  }
  // Policies repeat a handful of durations for every proxy; the cache stays small.
  if (parsed.size < 4096) parsed.set(text, total);
  return total;
}
const parsed = new Map<string, number | undefined>();

/** Milliseconds as a protobuf Duration (whole seconds and nanoseconds), the shape Envoy's protos take. */
export function protoDuration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

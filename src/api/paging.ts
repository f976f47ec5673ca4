import type { Cause } from '../core/errors.js';
import { HttpError } from './envelope.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface Page {
  size: number;
  offset: number;
}

function parseNonNegative(raw: unknown): number | undefined {
  if (typeof raw !== 'string' || !/^[0-9]{1,9}$/.test(raw)) return undefined;
  return Number(raw);
}

/** Reads `size` and `offset` (Kuma's list paging); out-of-range or malformed values are a 400. */
export function readPage(query: Record<string, unknown>): Page {
  const causes: Cause[] = [];
  let size = DEFAULT_PAGE_SIZE;
  let offset = 0;
  if (query.size !== undefined) {
    const n = parseNonNegative(query.size);
    if (n === undefined || n < 1 || n > MAX_PAGE_SIZE) causes.push({ field: 'size', message: `must be an integer between 1 and ${MAX_PAGE_SIZE}` });
    else size = n;
  }
  if (query.offset !== undefined) {
    const n = parseNonNegative(query.offset);
    if (n === undefined) causes.push({ field: 'offset', message: 'must be a non-negative integer' });
    else offset = n;
  }
  if (causes.length > 0) throw new HttpError(400, 'Bad Request', 'invalid paging parameters', causes);
  return { size, offset };
}

/**
 * URL of the next page, or null on the last one. Built from the request's own path and query so
 * filters carry over; the host is the one the client used.
 */
export function nextPageUrl(base: { protocol: string; host: string; path: string; query: Record<string, unknown> }, page: Page, total: number): string | null {
  const nextOffset = page.offset + page.size;
  if (nextOffset >= total) return null;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(base.query)) {
    if (key === 'offset' || key === 'size') continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  params.set('offset', String(nextOffset));
  params.set('size', String(page.size));
  return `${base.protocol}://${base.host}${base.path}?${params.toString()}`;
}

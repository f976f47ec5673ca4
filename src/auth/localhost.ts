import { isIP } from 'node:net';

/** What the decision needs from a request: the TCP peer and the headers. */
export interface CallerFacts {
  remoteAddress: string | undefined;
  /** The scheme the request arrived on: an origin is scheme, host and port together. */
  scheme: 'http' | 'https';
  headers: Record<string, string | string[] | undefined>;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.replace(/^::ffff:/i, '');
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/** `localhost`, `127.x.x.x` or `[::1]`, with an optional port. */
function isLoopbackHost(host: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::\d{1,5})?$/.exec(host.trim().toLowerCase());
  if (!match) return false;
  const name = match[1] ?? match[2] ?? '';
  return name === 'localhost' || isLoopbackAddress(name);
}

const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip'];
const SAFE_FETCH_SITES = new Set(['same-origin', 'none']);

/**
 * Whether a request really comes from this machine, for "localhost is admin". A browser tab on any
 * web page can reach localhost, and a reverse proxy turns remote callers into local ones (Kuma's
 * GHSA-3vcp-chfh-f6r2), so all of these must hold: the socket peer is loopback, the Host header
 * names a loopback host, no proxy header is present, `Sec-Fetch-Site` (if any) is same-origin or
 * none, and `Origin` (if any) is this same loopback origin (scheme, host and port).
 */
export function isLocalCaller(facts: CallerFacts): boolean {
  if (!isLoopbackAddress(facts.remoteAddress)) return false;
  const header = (name: string) => {
    const v = facts.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const host = header('host');
  if (!host || !isLoopbackHost(host)) return false;
  if (PROXY_HEADERS.some((name) => facts.headers[name] !== undefined)) return false;
  const site = header('sec-fetch-site');
  if (site !== undefined && !SAFE_FETCH_SITES.has(site.toLowerCase())) return false;
  const origin = header('origin');
  if (origin !== undefined) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== `${facts.scheme}:` || url.host.toLowerCase() !== host.trim().toLowerCase() || !isLoopbackHost(url.host)) return false;
  }
  return true;
}

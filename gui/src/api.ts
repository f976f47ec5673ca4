/**
 * The REST API as the GUI uses it. Under `/gui/` on the API port the API is at `/`; on the GUI port
 * (5683) it is under `/api`. A user token, when given, is kept in sessionStorage for this tab.
 */
const TOKEN_KEY = 'skiff.userToken';
export const API_BASE = location.pathname.startsWith('/gui') ? '' : '/api';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly details: string,
  ) {
    super(`${title}: ${details}`);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function get<T = any>(path: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = token.get();
  if (t) headers.authorization = `Bearer ${t}`;
  const response = await fetch(`${API_BASE}${path}`, { headers });
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) throw new ApiError(response.status, body?.title ?? response.statusText, body?.details ?? text.slice(0, 200));
  return body as T;
}

/** Every item of a paged list, following `next`. */
export async function all<T = any>(path: string): Promise<T[]> {
  const items: T[] = [];
  let url: string | null = `${path}${path.includes('?') ? '&' : '?'}size=1000`;
  while (url) {
    const page: { items: T[]; next: string | null } = await get(url);
    items.push(...page.items);
    // `next` is a full URL of the API; `get` adds the API base itself.
    const next = page.next ? new URL(page.next, location.origin) : undefined;
    url = next ? next.pathname.replace(/^\/api/, '') + next.search : null;
  }
  return items;
}

export interface Who {
  name: string;
  groups: string[];
}

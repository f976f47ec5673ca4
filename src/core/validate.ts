import type { Cause } from './errors.js';
import { parseDuration } from './duration.js';
import { SERVICE_TAGS } from './tags.js';

/** Collects every problem of one object, each with its field path, so a caller sees them all at once. */
export class Causes {
  readonly list: Cause[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

export type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `a.b` for a key below `a`, `a[3]` for an index; the root path is ''. */
export const at = (base: string, key: string | number): string =>
  typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;

/** Flags fields Kuma's schema does not have: a typo must not be silently dropped. */
export function checkKnownFields(obj: Obj, allowed: readonly string[], path: string, causes: Causes): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) causes.add(at(path, key), 'unknown field');
  }
}

/** An object at `path`; reports and returns undefined when it is missing (if required) or not an object. */
export function objectAt(parent: Obj, key: string, path: string, causes: Causes, required: boolean): Obj | undefined {
  const value = parent[key];
  const field = at(path, key);
  if (value === undefined || value === null) {
    if (required) causes.add(field, 'must be defined');
    return undefined;
  }
  if (!isObject(value)) {
    causes.add(field, 'must be an object');
    return undefined;
  }
  return value;
}

/** A list at `path`; reports and returns undefined when it is missing (if required) or not a list. */
export function listAt(parent: Obj, key: string, path: string, causes: Causes, required: boolean): unknown[] | undefined {
  const value = parent[key];
  const field = at(path, key);
  if (value === undefined || value === null) {
    if (required) causes.add(field, 'must be defined');
    return undefined;
  }
  if (!Array.isArray(value)) {
    causes.add(field, 'must be a list');
    return undefined;
  }
  return value;
}

export function checkString(value: unknown, path: string, causes: Causes, required = true): value is string {
  if (value === undefined || value === null) {
    if (required) causes.add(path, 'cannot be empty');
    return false;
  }
  if (typeof value !== 'string') {
    causes.add(path, 'must be a string');
    return false;
  }
  if (required && value === '') {
    causes.add(path, 'cannot be empty');
    return false;
  }
  return true;
}

/** A TCP port: an integer in 1..65535. */
export function checkPort(value: unknown, path: string, causes: Causes): value is number {
  if (value === undefined || value === null) {
    causes.add(path, 'port must be defined');
    return false;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    causes.add(path, 'port must be in the range [1, 65535]');
    return false;
  }
  return true;
}

export function checkPositiveInt(value: unknown, path: string, causes: Causes, required: boolean): void {
  if (value === undefined || value === null) {
    if (required) causes.add(path, 'must be defined');
    return;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) causes.add(path, 'must be a positive integer');
}

/** A Go-style duration string greater than zero, e.g. "10s". */
export function checkDuration(value: unknown, path: string, causes: Causes, required: boolean): void {
  if (value === undefined || value === null) {
    if (required) causes.add(path, 'must be defined');
    return;
  }
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) causes.add(path, 'must be a duration such as "10s", "1m30s" or "250ms"');
  else if (ms <= 0) causes.add(path, 'must be greater than zero');
}

/** A tag map: non-empty string keys and values. */
export function checkTags(value: unknown, path: string, causes: Causes): value is Record<string, string> {
  if (!isObject(value)) {
    causes.add(path, 'must be a map of tags');
    return false;
  }
  let ok = true;
  for (const [key, tagValue] of Object.entries(value)) {
    if (key.trim() === '') {
      causes.add(path, 'tag name cannot be empty');
      ok = false;
    }
    if (typeof tagValue !== 'string' || tagValue === '') {
      causes.add(`${path}["${key}"]`, 'tag value must be a non-empty string');
      ok = false;
    }
  }
  return ok;
}

/** Whether a tag map names a service with either spelling of the service tag. */
export function hasServiceTag(tags: Record<string, string>): boolean {
  return SERVICE_TAGS.some((key) => typeof tags[key] === 'string' && tags[key] !== '');
}

/** `sources` / `destinations` / `selectors`: a non-empty list of `{match: tags}` with at least one tag each. */
export function checkSelectors(parent: Obj, key: string, causes: Causes): void {
  const list = listAt(parent, key, '', causes, true);
  if (!list) return;
  if (list.length === 0) {
    causes.add(key, 'must have at least one element');
    return;
  }
  list.forEach((item, i) => {
    const path = at(key, i);
    if (!isObject(item)) {
      causes.add(path, 'must be an object with a match');
      return;
    }
    checkKnownFields(item, ['match'], path, causes);
    const match = objectAt(item, 'match', path, causes, true);
    if (!match) return;
    if (Object.keys(match).length === 0) causes.add(at(path, 'match'), 'must have at least one tag');
    else checkTags(match, at(path, 'match'), causes);
  });
}

/** Optional Kuma 2.x `labels`: a string map. */
export function checkLabels(spec: Obj, causes: Causes): void {
  if (spec.labels === undefined) return;
  if (!isObject(spec.labels) || Object.values(spec.labels).some((v) => typeof v !== 'string')) {
    causes.add('labels', 'must be a map of strings');
  }
}

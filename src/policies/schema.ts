import { parseDuration } from '../core/duration.js';
import { at, Causes, checkKnownFields, isObject } from '../core/validate.js';

/**
 * A small declarative schema for the `default` confs of the targetRef policies: field types, enums
 * and ranges with Kuma's messages, every problem collected with its path. What a schema cannot say
 * (one field excluding another, cross-field ranges) each policy checks itself after it.
 */
export type Field =
  | { kind: 'duration'; positive?: boolean }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'bool' }
  | { kind: 'string'; nonEmpty?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'object'; fields: Schema; required?: readonly string[]; atLeastOne?: boolean }
  | { kind: 'list'; of: Field; nonEmpty?: boolean }
  | { kind: 'map' }
  /** A number or a string holding one (Kuma's IntOrString decimals, percentages). */
  | { kind: 'decimal'; min?: number; max?: number }
  | { kind: 'any' };
export type Schema = Readonly<Record<string, Field>>;
export type ObjectField = Extract<Field, { kind: 'object' }>;

export const duration = (positive = false): Field => ({ kind: 'duration', positive });
export const int = (min = 0, max?: number): Field => ({ kind: 'int', min, ...(max !== undefined ? { max } : {}) });
export const bool: Field = { kind: 'bool' };
export const str = (nonEmpty = true): Field => ({ kind: 'string', nonEmpty });
export const oneOf = (...values: string[]): Field => ({ kind: 'enum', values });
export const obj = (fields: Schema, options: { required?: readonly string[]; atLeastOne?: boolean } = {}): ObjectField => ({ kind: 'object', fields, ...options });
export const list = (of: Field, nonEmpty = false): Field => ({ kind: 'list', of, nonEmpty });
export const decimal = (min?: number, max?: number): Field => ({ kind: 'decimal', ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
export const map: Field = { kind: 'map' };
export const any: Field = { kind: 'any' };

/** Checks `value` at `path` against `field`; absent values are the caller's concern (see `required`). */
export function checkField(value: unknown, field: Field, path: string, causes: Causes): void {
  switch (field.kind) {
    case 'duration': {
      const ms = typeof value === 'string' ? parseDuration(value) : undefined;
      if (ms === undefined) causes.add(path, 'must be a duration such as "10s", "1m30s" or "250ms"');
      else if (field.positive && ms <= 0) causes.add(path, 'must be greater than zero');
      return;
    }
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) causes.add(path, 'must be an integer');
      else if (field.min !== undefined && value < field.min) causes.add(path, field.min === 1 ? 'must be greater than zero' : `must be greater than or equal to ${field.min}`);
      else if (field.max !== undefined && value > field.max) causes.add(path, `must be less than or equal to ${field.max}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean') causes.add(path, 'must be true or false');
      return;
    case 'string':
      if (typeof value !== 'string') causes.add(path, 'must be a string');
      else if (field.nonEmpty && value === '') causes.add(path, 'must not be empty');
      return;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) causes.add(path, `must be one of: ${field.values.join(', ')}`);
      return;
    case 'decimal': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n)) causes.add(path, 'must be a number');
      else if (field.min !== undefined && n < field.min) causes.add(path, `must be greater than or equal to ${field.min}`);
      else if (field.max !== undefined && n > field.max) causes.add(path, `must be less than or equal to ${field.max}`);
      return;
    }
    case 'map':
      if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) causes.add(path, 'must be a map of strings');
      return;
    case 'list':
      if (!Array.isArray(value)) {
        causes.add(path, 'must be a list');
        return;
      }
      if (field.nonEmpty && value.length === 0) causes.add(path, 'must not be empty');
      value.forEach((item, i) => checkField(item, field.of, at(path, i), causes));
      return;
    case 'object':
      checkObject(value, field, path, causes);
      return;
    case 'any':
      return;
  }
}

function checkObject(value: unknown, field: Extract<Field, { kind: 'object' }>, path: string, causes: Causes): void {
  if (!isObject(value)) {
    causes.add(path, 'must be an object');
    return;
  }
  checkKnownFields(value, Object.keys(field.fields), path, causes);
  for (const key of field.required ?? []) if (value[key] === undefined || value[key] === null) causes.add(at(path, key), 'must be defined');
  if (field.atLeastOne && Object.keys(field.fields).every((k) => value[k] === undefined)) causes.add(path, `must have at least one defined: ${Object.keys(field.fields).join(', ')}`);
  for (const [key, child] of Object.entries(field.fields)) {
    if (value[key] !== undefined && value[key] !== null) checkField(value[key], child, at(path, key), causes);
  }
}

/**
 * A deep copy of JSON-shaped data (plain objects, arrays, primitives; byte arrays are copied):
 * what generated resources and policy confs are. About eight times faster than structuredClone on
 * them, which matters when every proxy of a mesh copies what its policies edit.
 */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value !== null && typeof value === 'object') {
    if (ArrayBuffer.isView(value)) return (value as unknown as Uint8Array).slice() as T;
    const out: Record<string, unknown> = {};
    for (const key in value) out[key] = cloneJson((value as Record<string, unknown>)[key]);
    return out as T;
  }
  return value;
}

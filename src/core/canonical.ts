/**
 * Canonical encoding of a JSON-like value for signing: object keys sorted by
 * UTF-16 code unit order (JavaScript's default sort), no whitespace, UTF-8.
 * Two values that are equal as data always give the same bytes, whatever the
 * key order they were built with. Anything JSON cannot express exactly
 * (undefined inside arrays, NaN, Infinity, functions, bigint, Dates, class
 * instances) throws instead of being silently changed. Object properties whose
 * value is undefined are left out, like JSON.stringify does, so an optional
 * field that is absent and one that is undefined encode the same.
 */
export type Canonical = null | boolean | number | string | Canonical[] | { [k: string]: Canonical | undefined };

export function canonicalString(value: unknown): string {
  return enc(value, '$');
}

export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalString(value));
}

function enc(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`canonical: ${path} is not a finite number`);
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) {
        return `[${v.map((x, i) => {
          if (x === undefined) throw new Error(`canonical: ${path}[${i}] is undefined`);
          return enc(x, `${path}[${i}]`);
        }).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new Error(`canonical: ${path} is not a plain object`);
      }
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${enc(o[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new Error(`canonical: ${path} has unsupported type ${typeof v}`);
  }
}

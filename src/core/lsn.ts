/** PostgreSQL LSNs ('16/B374D848') as comparable numbers; null for anything malformed. */
export function parseLsn(s: string | null | undefined): bigint | null {
  if (typeof s !== 'string') return null;
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(s.trim());
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** -1, 0, 1 like a comparator; a malformed LSN sorts below every real one. */
export function compareLsn(a: string | null | undefined, b: string | null | undefined): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  if (x === null && y === null) return 0;
  if (x === null) return -1;
  if (y === null) return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Registry rows expire and are renewed; each (kind, name) carries a signed,
 * increasing generation so that a retired row cannot be replayed.
 * See docs/security.md, "Registry rows: expiry and revocation".
 *
 * - Every row has an expiresAt at most MAX_ROW_TTL_SECONDS after createdAt.
 * - Its owner re-signs it (generation + 1, new expiry) once half of its
 *   lifetime has passed, replacing it in one transaction: the old row is
 *   still valid while the new one is written, so access never lapses.
 * - For each (kind, name) only the rows with the highest generation whose
 *   signature verifies count; lower ones are `superseded` — also when the
 *   newer row was deleted from the table but the reader saw it before
 *   (`seen`, the reader's own memory, which the database cannot change).
 * - A retired key (revoked proxy token) is superseded by a signed
 *   tombstone: the same key with `retired: true` and the next generation.
 *   It authorises nothing.
 */

export const DEFAULT_ROW_TTL_SECONDS = 24 * 3600;
export const MIN_ROW_TTL_SECONDS = 60;
export const MAX_ROW_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_GENERATION = 2 ** 31 - 1;

export interface LifecycleFields {
  kind: string;
  name: string;
  generation: number;
  retired?: boolean | null;
  createdAt: string;
  expiresAt: string;
}

export type LifecycleVerdict =
  | { ok: true }
  | { ok: false; reason: 'superseded' | 'retired' | 'expired'; detail: string };

export function rowKey(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/**
 * Highest generation per (kind, name) among rows whose signature verifies
 * (expired and revoked ones included: an expired newer row still retires an
 * older one), merged with what this reader saw earlier.
 */
export function latestGenerations(signed: readonly Pick<LifecycleFields, 'kind' | 'name' | 'generation'>[], seen?: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>(seen ?? []);
  for (const r of signed) {
    const k = rowKey(r.kind, r.name);
    if ((out.get(k) ?? 0) < r.generation) out.set(k, r.generation);
  }
  return out;
}

/**
 * The lifecycle verdict for one row whose signature already verified:
 * superseded by a higher generation (in the table or seen before), a
 * tombstone, or expired. Rows of the same (kind, name) and the same highest
 * generation are all current (they were all signed as current).
 */
export function judgeLifecycle(row: LifecycleFields, latest: ReadonlyMap<string, number>, nowMs: number): LifecycleVerdict {
  const top = latest.get(rowKey(row.kind, row.name)) ?? 0;
  if (row.generation < top) return { ok: false, reason: 'superseded', detail: `generation ${row.generation} < ${top} (a newer row of ${row.kind} ${row.name} exists or was seen)` };
  if (row.retired === true) return { ok: false, reason: 'retired', detail: `key retired at generation ${row.generation}` };
  if (Date.parse(row.expiresAt) <= nowMs) return { ok: false, reason: 'expired', detail: `expired at ${row.expiresAt}` };
  return { ok: true };
}

/** True once half of the row's lifetime has passed: its owner re-signs it then. */
export function needsRenewal(row: Pick<LifecycleFields, 'createdAt' | 'expiresAt'>, nowMs: number): boolean {
  const c = Date.parse(row.createdAt);
  const e = Date.parse(row.expiresAt);
  return nowMs >= c + (e - c) / 2;
}

/** The generation a signer gives the next row of (kind, name). */
export function nextGeneration(kind: string, name: string, latest: ReadonlyMap<string, number>): number {
  return (latest.get(rowKey(kind, name)) ?? 0) + 1;
}

/** Problems with a configured row lifetime in ms (empty when fine). */
export function rowTtlErrors(ttlMs: number, keySyncIntervalMs: number): string[] {
  const errs: string[] = [];
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_ROW_TTL_SECONDS * 1000 || ttlMs > MAX_ROW_TTL_SECONDS * 1000) {
    errs.push(`must be from ${MIN_ROW_TTL_SECONDS * 1000} (1 minute) to ${MAX_ROW_TTL_SECONDS * 1000} (30 days)`);
  } else if (ttlMs < 10 * keySyncIntervalMs) {
    errs.push(`must be at least 10 x PGSWARM_KEY_SYNC_INTERVAL_MS (${10 * keySyncIntervalMs}) so rows are renewed several times before they expire`);
  }
  return errs;
}

/** The reader's memory of generations as a file (root-owned, in the node's volume), so it survives restarts. */
export function serializeGenerations(g: ReadonlyMap<string, number>): string {
  return `${JSON.stringify(Object.fromEntries([...g].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))}\n`;
}

/** Parses serializeGenerations() output; null when the text is not that (the caller logs it and starts empty). */
export function parseGenerations(text: string): Map<string, number> | null {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return null;
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (k.length > 100 || !Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_GENERATION) return null;
    out.set(k, v as number);
  }
  return out;
}

/** Reconnect delays with jitter, shared by the proxies' SSH followers and the agents' PostgreSQL sessions. Pure. */

export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { minMs: 250, maxMs: 5000 };

/**
 * Next reconnect delay: back to the minimum after a session that delivered an
 * answer, otherwise doubled up to the maximum. `base` is the un-jittered
 * delay to remember; `delayMs` is it times a random factor in [0.5, 1.5).
 */
export function nextBackoff(prevBaseMs: number | null, deliveredAnswer: boolean, random: number, p: BackoffPolicy = DEFAULT_BACKOFF): { base: number; delayMs: number } {
  const base = deliveredAnswer || prevBaseMs === null ? p.minMs : Math.min(p.maxMs, Math.max(p.minMs, prevBaseMs * 2));
  const r = Math.min(Math.max(random, 0), 1);
  return { base, delayMs: Math.round(base * (0.5 + r)) };
}

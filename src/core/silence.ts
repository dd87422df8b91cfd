/**
 * Pure rule of the stream watchdog: when is a node silent (the reconnect delay
 * is core/backoff.ts).
 *
 * Overload is not partition. A check timer that fires late means our own
 * process was starved (busy host, long GC, blocked event loop); worse, Node.js
 * runs due timers before it reads sockets, so lines the node sent on time may
 * still sit unread. Starvation is therefore not counted as the node's
 * silence: a late check says 'overloaded' (re-check soon, after pending I/O
 * was read), and the time we were starved extends the deadline, but never
 * beyond maxFactor × the deadline.
 */

export interface SilenceInput {
  /** Time since the last complete line of the stream (or since the channel opened). */
  msSinceLastLine: number;
  /** No line for this long = silent node. */
  deadlineMs: number;
  /** How late this check's timer fired (actual - scheduled), ms. */
  checkLateMs: number;
  /** Starvation already observed since the last line by earlier checks (sum of their counted lateness) [0]. */
  starvedMs?: number;
  /** A check later than this means our own process was starved [500]. */
  lateToleranceMs?: number;
  /** The deadline is never extended beyond maxFactor × deadlineMs [3]. */
  maxFactor?: number;
}

export interface SilenceVerdict {
  verdict: 'ok' | 'silent' | 'overloaded';
  reason: string;
  /** Starvation counted so far, this check included (feed it back as starvedMs until the next line). */
  starvedMs: number;
  /** The deadline in force: deadlineMs extended by the starvation, capped. */
  effectiveDeadlineMs: number;
}

export function silenceVerdict(i: SilenceInput): SilenceVerdict {
  const tol = i.lateToleranceMs ?? 500;
  const factor = Math.max(1, i.maxFactor ?? 3);
  const late = Math.max(0, i.checkLateMs);
  const starved = Math.max(0, i.starvedMs ?? 0) + (late > tol ? late : 0);
  const cap = factor * i.deadlineMs;
  const effective = Math.min(i.deadlineMs + starved, cap);
  const since = Math.max(0, i.msSinceLastLine);
  const base = { starvedMs: starved, effectiveDeadlineMs: effective };
  if (since <= i.deadlineMs) return { ...base, verdict: 'ok', reason: `last line ${since} ms ago (deadline ${i.deadlineMs} ms)` };
  if (since > cap) return { ...base, verdict: 'silent', reason: `no line for ${since} ms: past ${cap} ms, the longest the deadline is extended for our own starvation` };
  if (late > tol) return { ...base, verdict: 'overloaded', reason: `no line for ${since} ms, but this check fired ${late} ms late: our own process was starved, lines may be unread; re-checking` };
  if (since <= effective) return { ...base, verdict: 'overloaded', reason: `no line for ${since} ms, within the deadline extended by ${starved} ms of our own starvation (${effective} ms)` };
  return { ...base, verdict: 'silent', reason: `no line for ${since} ms (deadline ${effective} ms${starved ? `, ${starved} ms of it our own starvation` : ''})` };
}

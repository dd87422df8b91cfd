/**
 * Overload is not partition (docs/architecture.md, "Probing model"). A probe round that timed
 * out while this process could not run says nothing about the peers: on a busy 2-core host the
 * agent's own timers fire late, its probes miss their deadlines, and an agent that believed them
 * called every member — itself included — unreachable, and a primary fenced itself during a cold
 * start. Pure: figures in, verdict out.
 */

export interface LocalLoad {
  /** Longest event-loop delay of this process during the round (ms): how late its own timers ran. */
  loopLagMs: number;
  /** Share (0..1) of the round this node's cgroup spent CPU-throttled; null = unknown. */
  throttledShare: number | null;
}

/** A round whose timers ran this late proves nothing about the network (the answer loop's probe deadline is 800 ms). */
export const STARVED_LAG_MS = 500;
/** ...nor one during which the cgroup was throttled for this share of the time. */
export const STARVED_SHARE = 0.2;

export interface LoadVerdict {
  starved: boolean;
  reason: string;
}

export function judgeLocalLoad(l: LocalLoad): LoadVerdict {
  if (l.loopLagMs >= STARVED_LAG_MS) return { starved: true, reason: `this agent's own timers ran ${Math.round(l.loopLagMs)} ms late (limit ${STARVED_LAG_MS} ms): the host is overloaded, silent probes are no evidence` };
  if (l.throttledShare !== null && l.throttledShare >= STARVED_SHARE) return { starved: true, reason: `CPU-throttled for ${Math.round(l.throttledShare * 100)}% of the round (limit ${STARVED_SHARE * 100}%): silent probes are no evidence` };
  return { starved: false, reason: `timers on time (${Math.round(l.loopLagMs)} ms late at most)${l.throttledShare !== null ? `, throttled ${Math.round(l.throttledShare * 100)}%` : ''}` };
}

/** What one probe of a member found, for the carry-over rule. */
export type ProbeOutcome<V> = { ok: true; view: V } | { ok: false; timedOut: boolean; error: string };

export interface LastGood<V> {
  view: V;
  at: number;
}

/** A member's last good view is carried over a starved round for at most this long. */
export const CARRY_OVER_MS = 10000;

/**
 * A member's view for this round: the fresh one; or, when the probe only timed out (no refusal,
 * no error from the server) during a starved round, its last good view if that is recent —
 * "we could not look" is not "it is gone". A refused or failed connection always counts.
 */
export function viewForRound<V>(o: ProbeOutcome<V>, last: LastGood<V> | undefined, starved: boolean, now: number): { view: V | null; carried: boolean; reason: string } {
  if (o.ok) return { view: o.view, carried: false, reason: 'answered' };
  if (!o.timedOut) return { view: null, carried: false, reason: `failed: ${o.error}` };
  if (!starved) return { view: null, carried: false, reason: `timed out while this host was not starved: ${o.error}` };
  if (!last) return { view: null, carried: false, reason: 'timed out on a starved round, and never seen before' };
  if (now - last.at > CARRY_OVER_MS) return { view: null, carried: false, reason: `timed out on a starved round; last seen ${now - last.at} ms ago (over ${CARRY_OVER_MS} ms)` };
  return { view: last.view, carried: true, reason: `timed out on a starved round: keeping the view from ${now - last.at} ms ago` };
}

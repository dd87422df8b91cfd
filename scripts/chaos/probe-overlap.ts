/**
 * Pure: split brain as seen by a prober that asks every node directly, about
 * every 200 ms, whether it is a primary that can acknowledge a commit: not in
 * recovery, and either no synchronous standby is required
 * (synchronous_standby_names empty) or at least one synchronous/quorum standby
 * is streaming to it. Consecutive "writable" samples of a node form an
 * interval (a gap longer than maxGapMs, or a non-writable sample, ends it);
 * intervals of two different nodes that overlap are dual-primary windows.
 */

export interface ProbeSample {
  node: string;
  t: number;
  ok: boolean;
  inRecovery?: boolean;
  timeline?: number | null;
  ssn?: string;
  syncStreaming?: number;
  /** standbys streaming to it (any sync state) */
  streaming?: number;
}

export interface Interval {
  node: string;
  timeline: number | null;
  from: number;
  to: number;
}

export interface DualWindow {
  nodes: [string, string];
  timelines: [number | null, number | null];
  from: number;
  to: number;
  ms: number;
}

export function canAcknowledge(s: ProbeSample): boolean {
  if (!s.ok || s.inRecovery !== false) return false;
  return (s.ssn ?? '') === '' || (s.syncStreaming ?? 0) > 0;
}

export function writableIntervals(samples: ProbeSample[], maxGapMs = 1000): Interval[] {
  const byNode = new Map<string, ProbeSample[]>();
  for (const s of samples) (byNode.get(s.node) ?? byNode.set(s.node, []).get(s.node)!).push(s);
  const out: Interval[] = [];
  for (const [node, xs] of byNode) {
    xs.sort((a, b) => a.t - b.t);
    let cur: Interval | null = null;
    for (const s of xs) {
      const w = canAcknowledge(s);
      const tl = s.timeline ?? null;
      if (cur && (!w || s.t - cur.to > maxGapMs || tl !== cur.timeline)) {
        out.push(cur);
        cur = null;
      }
      if (w) {
        if (cur) cur.to = s.t;
        else cur = { node, timeline: tl, from: s.t, to: s.t };
      }
    }
    if (cur) out.push(cur);
  }
  return out.sort((a, b) => a.from - b.from);
}

export function dualPrimaryWindows(intervals: Interval[]): DualWindow[] {
  const out: DualWindow[] = [];
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i];
      const b = intervals[j];
      if (a.node === b.node) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      if (from <= to) out.push({ nodes: [a.node, b.node], timelines: [a.timeline, b.timeline], from, to, ms: to - from });
    }
  }
  return out;
}

/**
 * How long this node's cgroup has been held back by its CPU limit (CFS throttling), from cpu.stat.
 * cgroup v2: `throttled_usec` (µs); cgroup v1: `throttled_time` (ns). Pure: text in, milliseconds out;
 * null when the file has neither (no CPU controller or no limit accounting).
 */
export function parseThrottledMs(cpuStat: string): number | null {
  const v2 = /^throttled_usec (\d+)$/m.exec(cpuStat);
  if (v2) return Number(v2[1]) / 1000;
  const v1 = /^throttled_time (\d+)$/m.exec(cpuStat);
  if (v1) return Number(v1[1]) / 1e6;
  return null;
}

/**
 * Share of a probe round (0..1) this node spent throttled: the throttled time that accrued during the
 * round over the round's wall time. null when unknown (no cgroup figures, or a counter reset).
 */
export function throttledShare(before: number | null, after: number | null, roundMs: number): number | null {
  if (before === null || after === null || roundMs <= 0 || after < before) return null;
  return Math.min(1, (after - before) / roundMs);
}

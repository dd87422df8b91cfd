/** Pure: one scenario's runs folded into the JSON summary the chaos suite prints. */
import type { AckCheck } from './ack-check';
import type { Overlap } from './write-windows';
import type { DualWindow } from './probe-overlap';

export interface RunResult {
  run: number;
  ok: boolean;
  /** ms from the fault (completed) to the first acknowledged write sent after it; null = none */
  recoveryMs: number | null;
  /** longest gap between two acknowledged writes (any writer) during the run */
  longestGapMs: number;
  check: AckCheck | null;
  duplicateAcks: number[];
  ackOverlaps: Overlap[];
  probeDualPrimary: DualWindow[];
  clientErrors: number;
  clientErrorKinds: Record<string, number>;
  primaryBefore: string | null;
  primaryAfter: string | null;
  /** scenario-specific expectations that failed, and notes */
  failures: string[];
  notes: string[];
  error?: string;
  /** every acknowledgement: [ms after the fault it arrived, ms after the fault it was sent, server/timeline] */
  ackTimeline?: [number, number, string][];
}

export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Collapses an error message to a short kind ("timeout exceeded when trying to connect" etc.) for counting. */
export function errorKind(message: string): string {
  return message.replace(/\d+(\.\d+)*/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 80);
}

export function summarize(scenario: string, runs: RunResult[], extra: Record<string, unknown> = {}) {
  const rec = runs.map((r) => r.recoveryMs).filter((x): x is number => x !== null);
  const lost = runs.reduce((n, r) => n + (r.check?.lost.length ?? 0), 0);
  const missingOnStandbys = runs.reduce((n, r) => n + Object.values(r.check?.missingByNode ?? {}).reduce((m, xs) => m + xs.length, 0), 0) - lost;
  const dups = runs.reduce((n, r) => n + Object.values(r.check?.duplicatesByNode ?? {}).reduce((m, xs) => m + xs.length, 0) + r.duplicateAcks.length, 0);
  const kinds: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.clientErrorKinds)) kinds[k] = (kinds[k] ?? 0) + v;
  return {
    scenario,
    runs: runs.length,
    passed: runs.filter((r) => r.ok).length,
    acknowledged: runs.reduce((n, r) => n + (r.check?.acknowledged ?? 0), 0),
    lostAcknowledged: lost,
    missingOnStandbys,
    duplicateIds: dups,
    splitBrainWindows: runs.reduce((n, r) => n + r.ackOverlaps.length, 0),
    probeDualPrimaryWindows: runs.reduce((n, r) => n + r.probeDualPrimary.length, 0),
    probeDualPrimaryMaxMs: Math.max(0, ...runs.flatMap((r) => r.probeDualPrimary.map((w) => w.ms))),
    recoveryMs: { p50: percentile(rec, 50), p95: percentile(rec, 95), max: rec.length ? Math.max(...rec) : null, n: rec.length },
    longestGapMs: { p50: percentile(runs.map((r) => r.longestGapMs), 50), max: Math.max(0, ...runs.map((r) => r.longestGapMs)) },
    clientErrors: runs.reduce((n, r) => n + r.clientErrors, 0),
    clientErrorKinds: kinds,
    ...extra,
    perRun: runs,
  };
}

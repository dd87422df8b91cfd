/**
 * Whole-machine CPU time from /proc/stat, and the share of it spent busy
 * between two readings. Busy excludes idle and iowait; guest time is already
 * counted in user (the kernel adds it there), so it is not added again.
 */
import fs from 'node:fs';

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** Parses the aggregate "cpu " line of /proc/stat (clock ticks). */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat: no aggregate "cpu" line');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map((x) => Number(x) || 0);
  return { user, nice, system, idle, iowait, irq, softirq, steal: steal ?? 0 };
}

export function readCpuTimes(): CpuTimes {
  return parseProcStat(fs.readFileSync('/proc/stat', 'utf8'));
}

export interface CpuShare {
  busy_pct: number;
  user_pct: number;
  system_pct: number;
  iowait_pct: number;
  steal_pct: number;
  /** Ticks elapsed over all cores (the denominator). */
  total_ticks: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Percentages of all cores' time between two readings: busy = total - idle - iowait. */
export function cpuShare(a: CpuTimes, b: CpuTimes): CpuShare {
  const d = (k: keyof CpuTimes) => Math.max(0, b[k] - a[k]);
  const total = d('user') + d('nice') + d('system') + d('idle') + d('iowait') + d('irq') + d('softirq') + d('steal');
  const pct = (x: number) => (total > 0 ? round1((100 * x) / total) : 0);
  return {
    busy_pct: pct(total - d('idle') - d('iowait')),
    user_pct: pct(d('user') + d('nice')),
    system_pct: pct(d('system') + d('irq') + d('softirq')),
    iowait_pct: pct(d('iowait')),
    steal_pct: pct(d('steal')),
    total_ticks: total,
  };
}

/**
 * CPU of long-lived host processes outside containers (dockerd, containerd,
 * shims…), from /proc/<pid>/stat utime+stime, for a "where did the CPU go"
 * breakdown. Processes that start and end between two snapshots are not seen
 * (their time shows up as the unattributed remainder).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ProcCpu {
  comm: string;
  ticks: number;
}

/** comm and utime+stime (clock ticks) from one /proc/<pid>/stat line. */
export function parsePidStat(text: string): ProcCpu | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return { comm: text.slice(open + 1, close), ticks: utime + stime };
}

/** pid -> CPU of every process not in a Docker container's cgroup. */
export function snapshotHostProcesses(procRoot = '/proc'): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  for (const name of fs.readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cg = fs.readFileSync(path.join(procRoot, name, 'cgroup'), 'utf8');
      if (/\/docker[/-]/.test(cg)) continue;
      const p = parsePidStat(fs.readFileSync(path.join(procRoot, name, 'stat'), 'utf8'));
      if (p) out.set(Number(name), p);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** CPU ticks per command name between two snapshots (processes present in both), largest first. */
export function hostCpuByComm(a: Map<number, ProcCpu>, b: Map<number, ProcCpu>): { comm: string; ticks: number }[] {
  const by = new Map<string, number>();
  for (const [pid, p] of b) {
    const before = a.get(pid);
    if (!before || before.comm !== p.comm) continue;
    by.set(p.comm, (by.get(p.comm) ?? 0) + Math.max(0, p.ticks - before.ticks));
  }
  return [...by.entries()].map(([comm, ticks]) => ({ comm, ticks })).sort((x, y) => y.ticks - x.ticks);
}

/**
 * CPU time used by one container, from its cgroup: cgroup v1
 * `cpuacct.usage` (nanoseconds) under the docker parent (cgroupfs driver,
 * mounted as cpu,cpuacct or cpuacct alone), or cgroup v2 `cpu.stat`
 * usage_usec (cgroupfs or systemd driver). null when none is found (then the
 * caller falls back to `docker stats`).
 */
import fs from 'node:fs';

const V1_ROOTS = ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpuacct,cpu', '/sys/fs/cgroup/cpuacct'];

/** Candidate files for a container id (or '' for the docker parent group: all containers together). */
export function cgroupCpuFiles(id: string): { file: string; kind: 'v1' | 'v2' }[] {
  const sub = id ? `docker/${id}` : 'docker';
  return [
    ...V1_ROOTS.map((r) => ({ file: `${r}/${sub}/cpuacct.usage`, kind: 'v1' as const })),
    { file: `/sys/fs/cgroup/${sub}/cpu.stat`, kind: 'v2' },
    { file: id ? `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat` : '/sys/fs/cgroup/system.slice/cpu.stat', kind: 'v2' },
  ];
}

/** usage_usec of a cgroup v2 cpu.stat, in nanoseconds. */
export function parseCpuStatNs(text: string): number | null {
  const m = /^usage_usec\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) * 1000 : null;
}

/** Cumulative CPU nanoseconds of a container's cgroup ('' = all containers), or null. */
export function containerCpuNs(id: string): number | null {
  for (const c of cgroupCpuFiles(id)) {
    let text: string;
    try {
      text = fs.readFileSync(c.file, 'utf8');
    } catch {
      continue;
    }
    const ns = c.kind === 'v1' ? Number(text.trim()) : parseCpuStatNs(text);
    if (ns !== null && Number.isFinite(ns)) return ns;
  }
  return null;
}

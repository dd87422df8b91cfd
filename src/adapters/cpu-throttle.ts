/** Reads this process's cgroup CPU throttling counter (cgroup v2, then the v1 cpu controller). */
import fs from 'node:fs';
import { parseThrottledMs } from '../core/cpu-throttle';

const FILES = ['/sys/fs/cgroup/cpu.stat', '/sys/fs/cgroup/cpu/cpu.stat', '/sys/fs/cgroup/cpu,cpuacct/cpu.stat'];

export function readThrottledMs(): number | null {
  for (const f of FILES) {
    try {
      const ms = parseThrottledMs(fs.readFileSync(f, 'utf8'));
      if (ms !== null) return ms;
    } catch {
      /* not this layout */
    }
  }
  return null;
}

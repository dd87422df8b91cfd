/**
 * Processes started on the machine, counted from the kernel's last allocated
 * PID (/proc/sys/kernel/ns_last_pid). A PID allocated in a container's PID
 * namespace is allocated in this (the host's) namespace too, so container
 * spawns count. Allocation wraps at pid_max back to a low number (300 on
 * Linux), which is why samples are taken often: one step must not wrap twice.
 */
import fs from 'node:fs';

/** Lowest PID the kernel hands out after a wrap (RESERVED_PIDS). */
export const PID_WRAP_TO = 300;

/** PIDs allocated between two readings of ns_last_pid, allowing one wrap at pidMax. */
export function pidsBetween(prev: number, next: number, pidMax: number): number {
  if (next >= prev) return next - prev;
  // prev+1 .. pidMax-1, then PID_WRAP_TO .. next
  return pidMax - 1 - prev + Math.max(0, next - PID_WRAP_TO + 1);
}

export function readLastPid(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8').trim());
}

export function readPidMax(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
}

/** Accumulates PID allocations over successive samples. */
export class PidCounter {
  private last: number;
  total = 0;

  constructor(private readonly pidMax = readPidMax(), private readonly read = readLastPid) {
    this.last = this.read();
  }

  sample(): void {
    const now = this.read();
    this.total += pidsBetween(this.last, now, this.pidMax);
    this.last = now;
  }
}

/**
 * The agent's own verdict for Docker's HEALTHCHECK, one line in a root-owned directory
 * (`ok <reason>` / `unhealthy <reason>`), written only when it changes. The check itself
 * (images/*\/…-health) is a POSIX sh `read`: no Node.js start, no connection, no new backend
 * per check. If the agent dies the container ends (it is the entrypoint), so a stale "ok"
 * cannot outlive it.
 */
import path from 'node:path';
import { ensureRootDir } from './answer-server';
import { writeFileExclusive } from '../adapters/atomic-file';

export class HealthFile {
  private last: string | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly file: string) {}

  /** Records the verdict; touches the disk only when it differs from the last one written. */
  set(ok: boolean, reason: string): boolean {
    const line = `${ok ? 'ok' : 'unhealthy'} ${reason.replace(/\s+/g, ' ').slice(0, 200)}\n`;
    if (line === this.last) return false;
    ensureRootDir(path.dirname(this.file));
    writeFileExclusive(this.file, line, 0o644);
    this.last = line;
    return true;
  }

  /** Re-evaluates `verdict` every `everyMs` (in memory; the file changes only with the verdict). */
  watch(verdict: () => { ok: boolean; reason: string }, everyMs = 1000): void {
    this.stop();
    const tick = () => {
      try {
        const v = verdict();
        this.set(v.ok, v.reason);
      } catch {
        /* the next tick tries again */
      }
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A node's (or witness's) health: it has settled its role and its PostgreSQL runs. */
export function nodeHealth(phase: string, postgresRunning: boolean): { ok: boolean; reason: string } {
  if (phase !== 'running') return { ok: false, reason: `agent phase ${phase}` };
  if (!postgresRunning) return { ok: false, reason: 'PostgreSQL is not running (crashed or fenced)' };
  return { ok: true, reason: 'role settled, PostgreSQL running' };
}

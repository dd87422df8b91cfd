import { spawn, ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Logger } from '../core/log';
import { scrubText } from '../core/log';
import { lookupUser } from '../adapters/os-users';

/**
 * Supervises the node's long-running children (postgres, repmgrd, sshd):
 * starts them as their OS user, turns their output into log events, restarts
 * a crashed child with exponential backoff (or hands the crash to `onCrash`
 * when the caller wants to decide, as for postgres), and stops them in order
 * on shutdown. Zombie reaping of orphaned grandchildren is done by tini, the
 * container's init (Node.js cannot wait for processes it did not spawn).
 */

export interface ChildSpec {
  name: string;
  cmd: string;
  args: string[];
  user?: string;
  env?: NodeJS.ProcessEnv;
  /** Signal for a clean, fast stop: postgres uses SIGINT (fast shutdown). */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
  /** 'always': restart with backoff; 'notify': call onCrash and leave it stopped. */
  restart: 'always' | 'notify';
  onCrash?: (code: number | null, signal: string | null) => void;
}

interface Running {
  spec: ChildSpec;
  proc: ChildProcess;
  stopping: boolean;
  exited: Promise<void>;
  startedAt: number;
}

export class Supervisor {
  private children = new Map<string, Running>();
  private backoff = new Map<string, number>();
  private shuttingDown = false;
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly log: Logger) {}

  isRunning(name: string): boolean {
    return this.children.has(name);
  }

  pid(name: string): number | undefined {
    return this.children.get(name)?.proc.pid;
  }

  start(spec: ChildSpec): void {
    if (this.shuttingDown) return;
    if (this.children.has(spec.name)) throw new Error(`${spec.name} already running`);
    const ids = spec.user && process.getuid?.() === 0 ? lookupUser(spec.user) : undefined;
    const proc = spawn(spec.cmd, spec.args, {
      env: { ...(spec.env ?? process.env), ...(ids ? { HOME: ids.home, USER: spec.user, LOGNAME: spec.user } : {}) },
      uid: ids?.uid,
      gid: ids?.gid,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    const child = this.log.child({ child: spec.name });
    for (const s of [proc.stdout!, proc.stderr!]) {
      readline.createInterface({ input: s }).on('line', (line) => child.info(scrubText(line)));
    }
    let resolveExit!: () => void;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const running: Running = { spec, proc, stopping: false, exited, startedAt: Date.now() };
    this.children.set(spec.name, running);
    this.log.info({ event: 'child-start', child: spec.name, pid: proc.pid }, `started ${spec.name}`);
    proc.on('error', (e) => this.log.error({ event: 'child-error', child: spec.name, err: e.message }, `cannot run ${spec.name}`));
    proc.on('exit', (code, signal) => {
      this.children.delete(spec.name);
      resolveExit();
      if (running.stopping || this.shuttingDown) {
        this.log.info({ event: 'child-stopped', child: spec.name, code, signal }, `${spec.name} stopped`);
        return;
      }
      const upFor = Date.now() - running.startedAt;
      const prev = upFor > 30000 ? 0 : this.backoff.get(spec.name) ?? 0;
      const delay = Math.min(prev ? prev * 2 : 500, 10000);
      this.backoff.set(spec.name, delay);
      if (spec.restart === 'notify') {
        this.log.warn({ event: 'child-crash', child: spec.name, code, signal }, `${spec.name} exited unexpectedly; handing over to the node agent`);
        spec.onCrash?.(code, signal);
        return;
      }
      this.log.warn({ event: 'child-crash', child: spec.name, code, signal, restartInMs: delay }, `${spec.name} exited unexpectedly; restarting in ${delay} ms`);
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.shuttingDown && !this.children.has(spec.name)) this.start(spec);
      }, delay);
      this.timers.add(t);
    });
  }

  /** Stops one child on purpose (no restart); SIGKILL after its stop timeout. */
  async stop(name: string): Promise<void> {
    const r = this.children.get(name);
    if (!r) return;
    r.stopping = true;
    r.proc.kill(r.spec.stopSignal ?? 'SIGTERM');
    const timeout = r.spec.stopTimeoutMs ?? 5000;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      r.exited,
      new Promise<void>((res) => {
        t = setTimeout(() => {
          this.log.warn({ event: 'child-kill', child: name }, `${name} did not stop within ${timeout} ms: SIGKILL`);
          r.proc.kill('SIGKILL');
          res();
        }, timeout);
      }),
    ]);
    if (t) clearTimeout(t);
    await r.exited;
  }

  signal(name: string, sig: NodeJS.Signals): boolean {
    const r = this.children.get(name);
    if (!r) return false;
    return r.proc.kill(sig);
  }

  /** Stops everything in the given order (names not running are skipped), then the rest. */
  async shutdown(order: string[]): Promise<void> {
    this.shuttingDown = true;
    for (const t of this.timers) clearTimeout(t);
    for (const n of order) await this.stop(n);
    await Promise.all([...this.children.keys()].map((n) => this.stop(n)));
  }
}

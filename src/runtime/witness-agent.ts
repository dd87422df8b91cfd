import fs from 'node:fs';
import type { NodeContext } from './node-context';
import { writeIfChanged, probeCreds } from './node-context';
import type { NodeExtras } from './node-agent';
import { prepareFiles } from './node-files';
import { stopPostgres } from './postgres-process';
import { discardPartial } from './node-actions';
import { initWitness, registerWitness, startWitnessServer, readWitnessMarker } from './witness-actions';
import { sshExtras, answerMemoryFor } from './node-extras';
import { decideWitness, WitnessDecision, WitnessObservation } from '../core/witness-decide';
import { asWitnessAnswer } from '../core/witness-answer';
import { probeCurrentPrimary } from '../adapters/current-primary-probe';
import { WakeableSleep } from './wakeable-sleep';
import { HealthFile, nodeHealth } from './health-file';
import { healthFilePath } from '../adapters/local-state';

/**
 * The witness (PGSWARM_ROLE=witness): a referee without data for the 2+1
 * topology. It runs a small PostgreSQL holding only repmgr's metadata,
 * registered with `repmgr witness register`, and repmgrd, so that repmgrd on
 * the standby counts it when deciding whether it sees a majority (the
 * primary's fencing probes it too); and sshd with the same forced
 * `current-primary` as the data nodes, answered as role=witness from its own
 * probes of the data nodes, so the proxies count it in their vote. It is never
 * promoted and never a candidate. Its SSH host key goes into the signed
 * registry like a node's (it has no client key: it runs nothing elsewhere).
 */
export function witnessExtras(ctx: NodeContext): NodeExtras {
  const { cfg } = ctx;
  const creds = probeCreds(ctx, 800);
  const memory = answerMemoryFor(ctx);
  return sshExtras(ctx, {
    answer: async () => asWitnessAnswer(await probeCurrentPrimary(cfg.nodeName, cfg.members, creds, memory)),
    clientKey: false,
    applySchema: false,
  });
}

/** PGDATA holds anything (lost+found aside): initdb would refuse it, and it may not be ours. */
function pgdataHasFiles(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((e) => e !== 'lost+found');
  } catch {
    return false;
  }
}

export class WitnessAgent {
  phase = 'starting';
  last: WitnessDecision | null = null;
  private stopping = false;
  private crashed = false;
  private readonly nap = new WakeableSleep();
  private readonly health: HealthFile;

  constructor(private readonly ctx: NodeContext, private readonly extras: NodeExtras = witnessExtras(ctx)) {
    this.health = new HealthFile(healthFilePath(ctx.cfg.home));
    ctx.onPostgresCrash = (code, signal) => {
      if (this.stopping) return;
      this.crashed = true;
      this.ctx.log.warn({ event: 'postgres-crash', code, signal }, 'witness postgres exited unexpectedly: deciding again');
      this.nap.wake();
    };
  }

  private setPhase(p: string): void {
    this.phase = p;
    try {
      writeIfChanged(this.ctx.paths.stateFile, JSON.stringify({ node: this.ctx.cfg.nodeName, role: 'witness', phase: p, decision: this.last, at: new Date().toISOString() }) + '\n', 0o644);
    } catch {
      /* run dir not there yet */
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.nap.sleep(ms);
  }

  async observe(): Promise<WitnessObservation> {
    const { cfg, paths } = this.ctx;
    const cp = await probeCurrentPrimary(cfg.nodeName, cfg.members, probeCreds(this.ctx));
    return {
      hasPgdata: pgdataHasFiles(paths.pgdata),
      inProgress: fs.existsSync(paths.inProgress),
      marker: fs.existsSync(paths.marker) ? readWitnessMarker(paths.marker) ?? {} : null,
      primary: cp.primary,
    };
  }

  /** Registers (and starts repmgrd) when not registered yet or when the primary it registered with changed. */
  private async ensureRegistered(primary: string | null): Promise<void> {
    const { ctx } = this;
    if (!primary) return;
    const marker = readWitnessMarker(ctx.paths.marker);
    if (marker?.registeredWith === primary && ctx.sup.isRunning('repmgrd')) return;
    try {
      await registerWitness(ctx, primary);
    } catch (e) {
      ctx.log.warn({ event: 'witness-register-failed', primary, err: (e as Error).message }, `repmgr witness register against ${primary} failed: ${(e as Error).message}; retrying`);
      return;
    }
    if (!ctx.sup.isRunning('repmgrd')) {
      ctx.sup.start({ name: 'repmgrd', cmd: ctx.repmgrBin.replace(/repmgr$/, 'repmgrd'), args: ['-f', `${ctx.paths.confDir}/repmgr.conf`, '--daemonize=false'], user: ctx.cfg.runUser, env: ctx.pgEnv, restart: 'always', stopSignal: 'SIGTERM', stopTimeoutMs: 3000 });
    }
  }

  async run(): Promise<number> {
    const { ctx } = this;
    await prepareFiles(ctx);
    this.health.watch(() => nodeHealth(this.phase, ctx.sup.isRunning('postgres')));
    await this.extras.beforeDecide?.(ctx);
    while (!this.stopping) {
      this.crashed = false;
      this.setPhase('deciding');
      const d = decideWitness(await this.observe());
      this.last = d;
      ctx.log.info({ event: 'decision', role: 'witness', action: d.action, rule: d.rule }, d.reason);
      try {
        switch (d.action) {
          case 'refuse':
            this.setPhase('refused');
            return 3;
          case 'discard-partial': {
            await stopPostgres(ctx);
            const dest = await discardPartial(ctx, 'witness');
            ctx.log.warn({ event: 'discarded-partial', movedTo: dest }, `moved the half-built witness PGDATA to ${dest}`);
            continue;
          }
          case 'init':
            this.setPhase('setting-up');
            await initWitness(ctx);
            continue;
          case 'register':
            this.setPhase('setting-up');
            await startWitnessServer(ctx);
            await this.ensureRegistered(d.primary);
            break;
          case 'start':
            await startWitnessServer(ctx);
            await this.ensureRegistered(d.register);
            break;
        }
      } catch (e) {
        ctx.log.error({ event: 'action-failed', action: d.action, err: (e as Error).message }, `${d.action} failed: ${(e as Error).message}; deciding again`);
        await ctx.sup.stop('repmgrd');
        await stopPostgres(ctx);
        await this.sleep(ctx.cfg.waitRetryMs);
        continue;
      }
      this.setPhase('running');
      ctx.log.info({ event: 'running', role: 'witness' }, 'witness running: counted by the proxies and by repmgrd, never promoted');
      // Steady state: re-register when the primary moved (repmgrd on a witness follows on its own; this is a safety net).
      while (!this.stopping && !this.crashed) {
        await this.sleep(Math.max(2000, ctx.cfg.waitRetryMs));
        if (this.stopping || this.crashed) break;
        const obs = await this.observe().catch(() => null);
        if (obs?.primary) await this.ensureRegistered(obs.primary);
      }
      if (this.stopping) break;
      await ctx.sup.stop('repmgrd');
      await this.sleep(1000);
    }
    return 0;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.setPhase('stopping');
    this.health.stop();
    this.health.set(false, 'stopping');
    this.ctx.log.info({ event: 'shutdown', role: 'witness' }, 'stopping: repmgrd, sshd, then postgres (fast shutdown)');
    await this.extras.onStop?.(this.ctx);
    await this.ctx.sup.shutdown(['repmgrd', 'sshd', 'postgres']);
    await this.ctx.sessions.closeAll();
    this.nap.wake();
  }
}

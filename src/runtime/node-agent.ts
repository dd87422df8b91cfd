import fs from 'node:fs';
import type net from 'node:net';
import type { NodeContext } from './node-context';
import { writeIfChanged, probeCreds } from './node-context';
import { parseHookReport, reportMessage } from '../core/hook-report';
import { prepareFiles } from './node-files';
import { startControlServer, ControlVerb } from './control-server';
import { startPostgres, stopPostgres, waitReady } from './postgres-process';
import { initPrimary, cloneStandby, rejoin, startPrimary, startStandby, discardPartial } from './node-actions';
import { decideRole, Decision, Observation } from '../core/decide-role';
import { readLocalState } from '../adapters/local-state';
import { askProxies } from '../adapters/proxy-primary';
import { probePeer } from '../adapters/peer-probe';

import { Phase, canMove } from '../core/node-phases';
import { WakeableSleep } from './wakeable-sleep';
import { HealthFile, nodeHealth } from './health-file';
import { healthFilePath } from '../adapters/local-state';

/** Extra long-running pieces started once the node runs (sshd, key sync): set by later layers. */
export interface NodeExtras {
  beforeDecide?: (ctx: NodeContext) => Promise<void>;
  onRunning?: (ctx: NodeContext) => Promise<void>;
  onStop?: (ctx: NodeContext) => Promise<void>;
}

export class NodeAgent {
  phase: Phase = 'starting';
  last: Decision | null = null;
  private ctl?: net.Server;
  private stopping = false;
  private readonly nap = new WakeableSleep();
  private readonly health: HealthFile;
  private crashed = false;

  constructor(private readonly ctx: NodeContext, private readonly extras: NodeExtras = {}) {
    this.health = new HealthFile(healthFilePath(ctx.cfg.home));
    ctx.onPostgresCrash = (code, signal) => {
      if (this.stopping) return;
      this.crashed = true;
      this.ctx.log.warn({ event: 'postgres-crash', code, signal }, 'postgres exited unexpectedly: deciding the role again before restarting it');
      this.nap.wake();
    };
  }

  /** Moves along NODE_TRANSITIONS only; an edge not in the table is a bug and is logged as one. */
  private setPhase(to: Phase): void {
    if (!canMove(this.phase, to)) this.ctx.log.error({ event: 'bad-transition', from: this.phase, to }, `no transition ${this.phase} -> ${to} in the phase table`);
    this.phase = to;
    this.writeState();
  }

  private writeState(extra: Record<string, unknown> = {}): void {
    const s = { node: this.ctx.cfg.nodeName, phase: this.phase, decision: this.last, at: new Date().toISOString(), ...extra };
    try {
      writeIfChanged(this.ctx.paths.stateFile, JSON.stringify(s) + '\n', 0o644);
    } catch {
      /* the run dir may not exist yet */
    }
  }

  async observe(): Promise<Observation> {
    const { cfg, paths } = this.ctx;
    const timeoutMs = cfg.connectTimeoutSecs * 1000;
    const [local, proxies, peers] = await Promise.all([
      readLocalState(paths, this.ctx.pgBinDir),
      askProxies(cfg.proxies, { statsUser: cfg.statsUser, statsPassword: cfg.statsPassword, caFile: cfg.caCertFile, timeoutMs, members: cfg.members, sessions: this.ctx.sessions }),
      Promise.all(cfg.members.filter((m) => m.name !== cfg.nodeName).map((m) => probePeer(m, probeCreds(this.ctx, timeoutMs)))),
    ]);
    return { self: cfg.nodeName, isBootstrapNode: cfg.bootstrapNode === cfg.nodeName, proxies, peers, local };
  }

  private async handleControl(verb: ControlVerb, arg: string): Promise<string> {
    const port = this.ctx.cfg.self.port;
    switch (verb) {
      case 'start':
        if (!this.ctx.sup.isRunning('postgres')) startPostgres(this.ctx, port);
        await waitReady(this.ctx, port);
        return 'started';
      case 'stop':
        await stopPostgres(this.ctx);
        return 'stopped';
      case 'restart':
        await stopPostgres(this.ctx);
        startPostgres(this.ctx, port);
        await waitReady(this.ctx, port);
        return 'restarted';
      case 'reload':
        this.ctx.sup.signal('postgres', 'SIGHUP');
        return 'reloaded';
      case 'status':
        return JSON.stringify({ phase: this.phase, postgres: this.ctx.sup.isRunning('postgres'), decision: this.last });
      case 'report': {
        // A hook (promote/follow/guard) reporting what it did. Untrusted (any run-user process can
        // connect): known events and fields only, and the message is ours (src/core/hook-report.ts).
        const p = parseHookReport(arg);
        if (!p.ok) {
          this.ctx.log.warn({ event: 'hook-report-refused', error: p.error }, `refused a hook report on the control socket: ${p.error}`);
          throw new Error(p.error);
        }
        this.ctx.log.info({ ...p.report, source: 'hook' }, reportMessage(p.report));
        return 'logged';
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.nap.sleep(ms);
  }

  /** Runs until stopped. Returns the exit code the process should use. */
  async run(): Promise<number> {
    const { ctx } = this;
    await prepareFiles(ctx);
    this.health.watch(() => nodeHealth(this.phase, ctx.sup.isRunning('postgres')));
    this.ctl = startControlServer(ctx.paths.ctlSocket, ctx.owner, ctx.log, (v, a) => this.handleControl(v, a));
    await this.extras.beforeDecide?.(ctx);
    while (!this.stopping) {
      this.crashed = false;
      this.setPhase('deciding');
      const obs = await this.observe();
      const d = decideRole(obs);
      this.last = d;
      ctx.log.info({ event: 'decision', action: d.action, rule: d.rule, target: 'from' in d ? d.from : 'follow' in d ? d.follow : undefined, observation: { proxies: obs.proxies, peers: obs.peers, local: obs.local } }, d.reason);
      this.writeState();
      try {
        switch (d.action) {
          case 'refuse':
            this.setPhase('refused');
            return 3;
          case 'wait':
            this.setPhase('waiting');
            await this.sleep(ctx.cfg.waitRetryMs);
            continue;
          case 'discard-partial': {
            const dest = await discardPartial(ctx, d.step);
            ctx.log.warn({ event: 'discarded-partial', movedTo: dest }, `moved the half-built PGDATA to ${dest}`);
            continue;
          }
          case 'init-primary':
            this.setPhase('setting-up');
            await initPrimary(ctx);
            break;
          case 'clone-standby':
            this.setPhase('setting-up');
            await cloneStandby(ctx, d.from);
            break;
          case 'rejoin':
            this.setPhase('setting-up');
            await rejoin(ctx, d.from);
            break;
          case 'reclone': {
            this.setPhase('setting-up');
            const dest = await discardPartial(ctx, 'rejoin');
            ctx.log.warn({ event: 'discarded-partial', movedTo: dest, step: 'rejoin' }, `moved the half-rewound PGDATA to ${dest}; cloning from ${d.from}`);
            await cloneStandby(ctx, d.from);
            break;
          }
          case 'start-primary':
            await startPrimary(ctx);
            break;
          case 'start-standby':
            await startStandby(ctx, d.follow);
            break;
        }
      } catch (e) {
        ctx.log.error({ event: 'action-failed', action: d.action, err: (e as Error).message }, `${d.action} failed: ${(e as Error).message}; deciding again`);
        await ctx.sup.stop('repmgrd');
        await stopPostgres(ctx);
        await this.sleep(ctx.cfg.waitRetryMs);
        continue;
      }
      if (this.stopping) break;
      this.setPhase('running');
      fs.rmSync(ctx.paths.fencedAlone, { force: true });
      ctx.sup.start({ name: 'repmgrd', cmd: ctx.repmgrBin.replace(/repmgr$/, 'repmgrd'), args: ['-f', `${ctx.paths.confDir}/repmgr.conf`, '--daemonize=false'], user: ctx.cfg.runUser, env: ctx.pgEnv, restart: 'always', stopSignal: 'SIGTERM', stopTimeoutMs: 3000 });
      await this.extras.onRunning?.(ctx);
      ctx.log.info({ event: 'running', action: d.action }, `node running (${d.action})`);
      // Steady state: sleep until postgres crashes or we are asked to stop.
      while (!this.stopping && !this.crashed) await this.sleep(60000);
      if (this.stopping) break;
      await ctx.sup.stop('repmgrd');
      await this.sleep(1000);
    }
    return 0;
  }

  /** SIGTERM: stop repmgrd and sshd, then postgres with a fast shutdown, within Docker's grace period. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.setPhase('stopping');
    this.health.stop();
    this.health.set(false, 'stopping');
    this.ctx.log.info({ event: 'shutdown' }, 'stopping: repmgrd, sshd, then postgres (fast shutdown)');
    await this.extras.onStop?.(this.ctx);
    await this.ctx.sup.shutdown(['repmgrd', 'sshd', 'postgres']);
    await this.ctx.sessions.closeAll();
    this.ctl?.close();
    try {
      fs.rmSync(this.ctx.paths.ctlSocket, { force: true });
    } catch {
      /* ignore */
    }
    this.nap.wake();
  }
}

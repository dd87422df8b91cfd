/** docker stack deploy of compose/stack.yml with the variables it needs, and waiting for health. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { CliContext, CliError, readLocal, sleep } from './context';
import { DEFAULT_PROXIES, VERIFY_KEY_FILE } from './cluster-secrets';
import { resolveTopology, Topology } from './topology';

/** Runs a command with inherited output; rejects with a CliError on failure. */
export function runInherit(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: opts.env ?? process.env, cwd: opts.cwd });
    child.on('error', (e) => reject(new CliError(`${cmd}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new CliError(`${cmd} ${args.join(' ')} failed (exit ${code})`))));
  });
}

/** The topology asked for with --topology (default: three data nodes); a bad flag is an error before anything is touched. */
export function topologyOf(ctx: CliContext): Topology {
  const r = resolveTopology(ctx.flags);
  if (!r.topology) throw new CliError(r.error ?? '--topology: invalid');
  return r.topology;
}

export function stackFile(ctx: CliContext): string {
  const f = typeof ctx.flags.file === 'string' ? path.resolve(ctx.flags.file) : path.join(ctx.repoRoot, 'compose', topologyOf(ctx).file);
  if (!fs.existsSync(f)) throw new CliError(`stack file ${f} not found`);
  return f;
}

export function deployEnv(ctx: CliContext): NodeJS.ProcessEnv {
  return { ...ctx.env, PGSWARM_VERIFY_KEY: readLocal(ctx, VERIFY_KEY_FILE), PGSWARM_STACK: ctx.stack };
}

export async function deployStack(ctx: CliContext): Promise<void> {
  await ctx.docker.requireSwarmManager();
  ctx.err(`[deploy] docker stack deploy ${ctx.stack}`);
  await runInherit('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', stackFile(ctx), ctx.stack], { env: deployEnv(ctx) });
}

export interface HealthSnapshot {
  service: string;
  state: string;
  health: string;
}

export async function healthSnapshot(ctx: CliContext): Promise<HealthSnapshot[]> {
  const t = topologyOf(ctx);
  const names = [...t.dataNodes, ...t.witnesses, ...DEFAULT_PROXIES.map((p) => p.service)];
  return Promise.all(
    names.map(async (service) => {
      const { task, health } = await ctx.docker.runningTask(ctx.stack, service);
      return { service, state: task?.state ?? 'none', health };
    }),
  );
}

/** Waits until every service's running task is healthy; prints changes; throws after timeoutMs. */
export async function waitHealthy(ctx: CliContext, timeoutMs: number): Promise<void> {
  const start = Date.now();
  let last = '';
  for (;;) {
    const snap = await healthSnapshot(ctx);
    const line = snap.map((s) => `${s.service}=${s.state === 'running' ? s.health : s.state}`).join(' ');
    if (line !== last) {
      ctx.err(`[wait ${Math.round((Date.now() - start) / 1000)}s] ${line}`);
      last = line;
    }
    if (snap.every((s) => s.state === 'running' && s.health === 'healthy')) return;
    if (Date.now() - start > timeoutMs) {
      throw new CliError(`the stack did not become healthy within ${Math.round(timeoutMs / 1000)} s: ${line}\nsee "pgswarm status" and "pgswarm logs SERVICE"`);
    }
    await sleep(2000);
  }
}

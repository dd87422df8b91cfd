import path from 'node:path';
import type { NodeContext } from './node-context';
import { withPg, PgTarget } from '../adapters/pg-connect';
import { superuserTarget } from './node-context';

/** Retryable: the server is not up yet or went away; the caller may try again. */
export class NotReady extends Error {}

export function startPostgres(ctx: NodeContext, port: number): void {
  const { cfg, paths } = ctx;
  ctx.sup.start({
    name: 'postgres',
    cmd: path.join(ctx.pgBinDir, 'postgres'),
    args: ['-D', paths.pgdata, '-c', `config_file=${paths.confDir}/postgresql.conf`, '-p', String(port)],
    user: cfg.runUser,
    env: ctx.pgEnv,
    stopSignal: 'SIGINT', // fast shutdown: well inside Docker's 10 s grace
    stopTimeoutMs: 7000,
    restart: 'notify',
    onCrash: (code, signal) => ctx.onPostgresCrash(code, signal),
  });
}

export async function stopPostgres(ctx: NodeContext): Promise<void> {
  await ctx.sup.stop('postgres');
}

/** Waits until postgres accepts a TLS connection from us (not just a live PID: field notes pitfall 7). */
export async function waitReady(ctx: NodeContext, port: number, timeoutMs = ctx.cfg.startupTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const t: PgTarget = { ...superuserTarget(ctx, port), timeoutMs: 2000 };
  let last = '';
  while (Date.now() < deadline) {
    if (!ctx.sup.isRunning('postgres')) throw new NotReady(`postgres exited while starting (${last || 'no answer'})`);
    try {
      await withPg(t, (c) => c.query('SELECT 1'));
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new NotReady(`postgres did not accept connections on port ${port} within ${timeoutMs} ms: ${last}`);
}

export async function restartOnPort(ctx: NodeContext, port: number): Promise<void> {
  await stopPostgres(ctx);
  startPostgres(ctx, port);
  await waitReady(ctx, port);
}

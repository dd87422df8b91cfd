/**
 * pgswarm switchover --to NODE: a planned primary change with
 * `repmgr standby switchover` run inside the target's container (it uses the
 * nodes' own SSH keys and strict host-key checking between nodes).
 */
import { CliContext, CliError, sleep } from './context';
import { observeNode } from './status';
import { notADataNode, topologyOfServices } from './topology';

const SWITCHOVER_SCRIPT = [
  'set -e',
  'if command -v pgswarm-switchover >/dev/null 2>&1; then exec pgswarm-switchover "$@"; fi',
  'home="${PGSWARM_HOME:-/var/lib/pgswarm}"',
  'exec runuser -u postgres -- env PGPASSFILE="$home/secrets/pgpass" "${PGSWARM_PG_BINDIR:-/usr/lib/postgresql/17/bin}/repmgr" -f "$home/conf/repmgr.conf" standby switchover --siblings-follow "$@"',
].join('\n');

export async function runSwitchover(ctx: CliContext): Promise<void> {
  const to = ctx.flags.to;
  if (typeof to !== 'string' || to === '') throw new CliError('switchover: --to NODE is required');
  await ctx.docker.requireSwarmManager();
  // The deployed topology decides which nodes exist (the 2+1 stack has pgnode1 and pgnode2 only).
  const why = notADataNode(topologyOfServices((await ctx.docker.stackServices(ctx.stack)).map((x) => x.Spec?.Name ?? ''), ctx.stack), to, ctx.stack);
  if (why) throw new CliError(`switchover: --to ${to}: ${why}`);
  const target = await observeNode(ctx, to);
  if (!target.containerId || target.taskState !== 'running') throw new CliError(`switchover: ${to} has no running container`);
  if (!target.cp) throw new CliError(`switchover: cannot ask ${to} for its role: ${target.cpError}`);
  if (target.cp.role === 'primary') throw new CliError(`switchover: ${to} is already the primary`);
  if (target.cp.role !== 'standby') throw new CliError(`switchover: ${to} is ${target.cp.role}, not a standby`);
  const extra = ctx.flags['dry-run'] === true ? ['--dry-run'] : [];
  ctx.err(`[switchover] ${target.cp.primary ?? '?'} -> ${to}${extra.length ? ' (dry run)' : ''}`);
  const r = await ctx.docker.exec(target.containerId, ['sh', '-c', SWITCHOVER_SCRIPT, 'switchover', ...extra], { timeoutMs: Number(ctx.flags.timeout ?? 120) * 1000 });
  ctx.err((r.stdout + r.stderr).trim());
  if (r.timedOut) throw new CliError('switchover: timed out; check "pgswarm status"');
  if (r.code !== 0) throw new CliError(`switchover failed (exit ${r.code})`);
  if (extra.length) return;
  for (let i = 0; i < 30; i++) {
    const o = await observeNode(ctx, to);
    if (o.cp?.role === 'primary') {
      ctx.out(`${to} is the primary`);
      return;
    }
    await sleep(1000);
  }
  throw new CliError(`switchover ran but ${to} does not report primary yet; check "pgswarm status"`);
}

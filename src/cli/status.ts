/** pgswarm status: nodes (role, health, lag, timeline, last decision) and proxies, as a table or --json. */
import { parseCurrentPrimary } from '../core/current-primary';
import { CliContext } from './context';
import { DEFAULT_PROXIES } from './cluster-secrets';
import { topologyOfServices } from './topology';
import { buildStatus, NodeObservation, ProxyObservation, renderStatus, StatusView, parseSyncStatus, parseFence } from './status-view';

const NODE_STATE = '/var/lib/pgswarm/state/state.json';
/** Written by the node's zero-loss loop (docs/zero-loss.md): synchronous setting, degraded or not; fenced or not. */
const NODE_SYNC_STATUS = '/var/lib/pgswarm/state/sync-status.json';
const NODE_FENCE = '/var/lib/pgswarm/state/fence.json';
const PROXY_STATE = '/var/lib/pgswarm-proxy/state.json';

function parseJson(s: string): any {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

export async function observeNode(ctx: CliContext, service: string): Promise<NodeObservation> {
  const { task, health } = await ctx.docker.runningTask(ctx.stack, service);
  const obs: NodeObservation = { service, taskState: task?.state ?? 'none', health, containerId: task?.containerId, cp: null };
  if (!task?.containerId || (task.state !== 'running' && task.state !== 'starting')) return obs;
  const cat = (file: string) => ctx.docker.exec(task.containerId!, ['cat', file], { timeoutMs: 5000 }).catch(() => null);
  const [cp, st, sync, fence] = await Promise.all([
    ctx.docker.exec(task.containerId, ['current-primary'], { timeoutMs: 10000 }).catch((e) => ({ code: null, stdout: '', stderr: String(e.message), timedOut: false })),
    cat(NODE_STATE),
    cat(NODE_SYNC_STATUS),
    cat(NODE_FENCE),
  ]);
  obs.syncStatus = sync && sync.code === 0 ? parseSyncStatus(sync.stdout) : null;
  obs.fence = fence && fence.code === 0 ? parseFence(fence.stdout) : null;
  obs.cp = parseCurrentPrimary(cp.stdout);
  if (!obs.cp) obs.cpError = cp.timedOut ? 'timed out' : (cp.stderr || cp.stdout).trim().split('\n').slice(-1)[0] || `exit ${cp.code}`;
  const state = st && st.code === 0 ? parseJson(st.stdout) : null;
  if (state?.decision) obs.lastDecision = { action: state.decision.action, reason: state.decision.reason, at: state.at };
  else if (state?.phase) obs.lastDecision = { action: state.phase, reason: '-', at: state.at };
  return obs;
}

export async function observeProxy(ctx: CliContext, service: string, port: number): Promise<ProxyObservation> {
  const { task, health } = await ctx.docker.runningTask(ctx.stack, service);
  const p: ProxyObservation = { service, taskState: task?.state ?? 'none', health, publishedPort: port };
  if (task?.containerId && (task.state === 'running' || task.state === 'starting')) {
    const r = await ctx.docker.exec(task.containerId, ['cat', PROXY_STATE], { timeoutMs: 5000 }).catch(() => null);
    const s = r && r.code === 0 ? parseJson(r.stdout) : null;
    if (s && 'primary' in s) p.primary = s.primary;
  }
  return p;
}

export async function gatherStatus(ctx: CliContext): Promise<StatusView> {
  await ctx.docker.requireSwarmManager();
  const services = await ctx.docker.stackServices(ctx.stack);
  if (services.length === 0) {
    const v = buildStatus([], []);
    v.problems = [`stack ${ctx.stack} is not deployed (pgswarm up)`];
    return v;
  }
  const [nodes, proxies] = await Promise.all([
    Promise.all(((t) => [...t.dataNodes, ...t.witnesses])(topologyOfServices(services.map((s) => s.Spec?.Name ?? ''), ctx.stack)).map((n) => observeNode(ctx, n))),
    Promise.all(DEFAULT_PROXIES.map((p, i) => observeProxy(ctx, p.service, Number((i === 0 ? ctx.env.PGSWARM_PORT : ctx.env.PGSWARM_PORT2) || p.port)))),
  ]);
  return buildStatus(nodes, proxies);
}

export async function runStatus(ctx: CliContext): Promise<number> {
  const v = await gatherStatus(ctx);
  if (ctx.flags.json === true) ctx.out(JSON.stringify(v, null, 2));
  else ctx.out(renderStatus(v));
  return v.problems.length ? 3 : 0;
}

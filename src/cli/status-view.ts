/**
 * Pure: turns what `status` gathered (Docker tasks, each node's
 * `current-primary --json`, each node's last decision) into rows, a table
 * and JSON. Unknowns stay visible as "-" instead of being guessed.
 */
import { CurrentPrimary } from '../core/current-primary';

export interface NodeObservation {
  service: string;
  /** Docker's view of the running task: running/healthy/starting/unhealthy/none. */
  taskState: string;
  health: string;
  containerId?: string;
  /** Parsed current-primary output from inside the container; null when it failed. */
  cp: CurrentPrimary | null;
  cpError?: string;
  /** Replication lag in bytes of this standby behind the primary (from current-primary's LSNs). */
  lastDecision?: { action?: string; reason?: string; at?: string } | null;
  /** The node's state/sync-status.json (zero-loss state), null when absent or unreadable. */
  syncStatus?: SyncStatusFile | null;
  /** The node's state/fence.json, null when absent (never fenced) or unreadable. */
  fence?: FenceFile | null;
}

/** state/sync-status.json, written by the node's zero-loss loop (src/runtime/zero-loss.ts). */
export interface SyncStatusFile {
  node?: string;
  /** Which side wrote it; files from before this field existed were written by a primary. */
  role?: 'primary' | 'standby';
  mode: string;
  /** synchronous_standby_names the node set (a standby: the value it keeps ready for a promotion). */
  names: string;
  degraded: boolean;
  rule: string;
  reason: string;
  healthy?: string[];
  /** When this state began (ISO time). */
  since?: string;
}

/** state/fence.json, written when the node fences itself and when it is handed back. */
export interface FenceFile {
  node?: string;
  fenced: boolean;
  rule?: string;
  reason?: string;
  at?: string;
}

export function parseSyncStatus(text: string | null | undefined): SyncStatusFile | null {
  const j = parseObject(text);
  if (!j || typeof j.mode !== 'string' || typeof j.names !== 'string' || typeof j.degraded !== 'boolean') return null;
  return {
    node: str(j.node), role: j.role === 'primary' || j.role === 'standby' ? j.role : undefined, mode: j.mode, names: j.names, degraded: j.degraded,
    rule: str(j.rule) ?? '-', reason: str(j.reason) ?? '-', healthy: Array.isArray(j.healthy) ? j.healthy.map(String) : undefined, since: str(j.since),
  };
}

export function parseFence(text: string | null | undefined): FenceFile | null {
  const j = parseObject(text);
  if (!j || typeof j.fenced !== 'boolean') return null;
  return { node: str(j.node), fenced: j.fenced, rule: str(j.rule), reason: str(j.reason), at: str(j.at) };
}

function parseObject(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const j = JSON.parse(text) as unknown;
    return j && typeof j === 'object' && !Array.isArray(j) ? (j as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);

/** The zero-loss columns of one node; every unknown stays null (shown as "-"). */
export interface ZeroLossRow {
  mode: string | null;
  /** synchronous_standby_names as the node's agent set it; null when unknown or stale. */
  names: string | null;
  /** true/false for the primary; null for a standby (only a primary degrades) or unknown. */
  degraded: boolean | null;
  since: string | null;
  reason: string | null;
  /** The file describes an earlier life of the node (written as primary, the node is not primary now). */
  stale: boolean;
  /** Which side wrote sync-status.json (null: no file). */
  writtenAs: 'primary' | 'standby' | null;
  fenced: boolean | null;
  fenceRule: string | null;
  fenceReason: string | null;
  fenceAt: string | null;
}

export function zeroLossRow(role: string, sync: SyncStatusFile | null | undefined, fence: FenceFile | null | undefined): ZeroLossRow {
  const writtenAs = sync ? sync.role ?? 'primary' : null;
  // A file written as primary on a node that is known not to be primary now (a standby since, or its PostgreSQL
  // down, e.g. fenced) is history, not the present. Role unknown (current-primary timed out): the file as it is.
  const stale = !!sync && writtenAs === 'primary' && (role === 'standby' || role === 'down');
  const current = sync && !stale ? sync : null;
  return {
    mode: sync?.mode ?? null,
    names: current ? current.names : null,
    degraded: current && writtenAs === 'primary' ? current.degraded : null,
    since: current?.since ?? null,
    reason: current?.reason ?? null,
    stale,
    writtenAs,
    fenced: fence ? fence.fenced : sync ? false : null,
    fenceRule: fence?.fenced ? fence.rule ?? null : null,
    fenceReason: fence?.reason ?? null,
    fenceAt: fence?.at ?? null,
  };
}

export interface ProxyObservation {
  service: string;
  taskState: string;
  health: string;
  publishedPort?: number;
  /** The node the proxy routes to, when known. */
  primary?: string | null;
}

export interface NodeRow {
  node: string;
  role: string;
  health: string;
  lagBytes: number | null;
  timeline: number | null;
  lsn: string | null;
  decision: string;
  reason: string;
  zeroLoss: ZeroLossRow;
}

export interface StatusView {
  primary: string | null;
  agreed: boolean;
  nodes: NodeRow[];
  proxies: ProxyObservation[];
  problems: string[];
}

/** "16/B374D848" -> bytes; null when malformed. */
export function lsnToBytes(lsn: string | null | undefined): bigint | null {
  if (!lsn) return null;
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

export function buildStatus(nodes: readonly NodeObservation[], proxies: readonly ProxyObservation[]): StatusView {
  const problems: string[] = [];
  const claims = nodes.filter((n) => n.cp?.primary).map((n) => n.cp!.primary as string);
  const distinct = [...new Set(claims)];
  const primary = distinct.length === 1 ? distinct[0] : null;
  if (distinct.length > 1) problems.push(`nodes disagree about the primary: ${distinct.join(' vs ')}`);
  if (distinct.length === 0) problems.push('no node reports a primary');
  const primaryLsn = lsnToBytes(nodes.find((n) => n.cp?.node === primary && n.cp?.role === 'primary')?.cp?.lsn);
  const rows: NodeRow[] = nodes.map((n) => {
    const up = n.taskState === 'running' || n.taskState === 'starting';
    const role = n.cp ? n.cp.role : up ? 'unknown' : 'down';
    const lsn = lsnToBytes(n.cp?.lsn);
    let lag: number | null = null;
    if (role === 'primary') lag = 0;
    else if (role === 'standby' && lsn !== null && primaryLsn !== null) lag = Number(primaryLsn > lsn ? primaryLsn - lsn : 0n);
    if (!n.cp && up) problems.push(`${n.service}: current-primary failed: ${n.cpError ?? 'no answer'}`);
    if (!up) problems.push(`${n.service}: no running task (${n.taskState})`);
    else if (n.health !== 'healthy') problems.push(`${n.service}: ${n.health}`);
    const zl = zeroLossRow(role, n.syncStatus, n.fence);
    if (zl.degraded) problems.push(`${n.service} is DEGRADED to asynchronous since ${zl.since ?? '?'}: ${zl.reason ?? ''}`);
    if (zl.fenced) problems.push(`${n.service} is FENCED (rule ${zl.fenceRule ?? '?'}) since ${zl.fenceAt ?? '?'}: ${zl.fenceReason ?? ''}`);
    return {
      zeroLoss: zl,
      node: n.service,
      role,
      health: up ? n.health || n.taskState : n.taskState,
      lagBytes: lag,
      timeline: n.cp?.timeline ?? null,
      lsn: n.cp?.lsn ?? null,
      decision: n.lastDecision?.action ?? '-',
      reason: n.lastDecision?.reason ?? '-',
    };
  });
  for (const p of proxies) {
    if (p.taskState !== 'running' && p.taskState !== 'starting') problems.push(`${p.service}: no running task (${p.taskState})`);
    else if (p.health !== 'healthy') problems.push(`${p.service}: ${p.health}`);
    if (primary && p.primary !== undefined && p.primary !== null && p.primary !== primary) problems.push(`${p.service} routes to ${p.primary}, nodes say ${primary}`);
  }
  return { primary, agreed: distinct.length === 1, nodes: rows, proxies: [...proxies], problems };
}

function fmtBytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(w[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** One row of the zero-loss table: what the node's agent set, degraded or not (since when), fenced or not (rule, since when). */
export function zeroLossCells(r: NodeRow): string[] {
  const z = r.zeroLoss;
  let names: string;
  if (z.stale) names = '- (file from its time as primary)';
  else if (z.names === null) names = '-';
  else if (z.names === '') names = z.degraded ? "'' = ASYNC (degraded)" : "'' (async)";
  else names = z.writtenAs === 'standby' ? `${z.names} (kept ready for a promotion)` : z.names;
  const degraded = z.degraded === null ? '-' : z.degraded ? `YES since ${z.since ?? '?'}` : 'no';
  const fenced = z.fenced === null ? '-' : z.fenced ? `YES (${z.fenceRule ?? '?'}) since ${z.fenceAt ?? '?'}` : 'no';
  return [r.node, z.mode ?? '-', names, degraded, fenced];
}

export function renderStatus(v: StatusView): string {
  const out: string[] = [];
  out.push(`primary: ${v.primary ?? '(none agreed)'}`);
  out.push('');
  out.push(table(['NODE', 'ROLE', 'HEALTH', 'LAG', 'TIMELINE', 'LAST DECISION', 'REASON'],
    v.nodes.map((r) => [r.node, r.role, r.health, fmtBytes(r.lagBytes), r.timeline === null ? '-' : String(r.timeline), r.decision, r.reason])));
  if (v.nodes.some((r) => r.zeroLoss.mode !== null || r.zeroLoss.fenced)) {
    out.push('');
    out.push(table(['NODE', 'SYNC MODE', 'SYNCHRONOUS_STANDBY_NAMES', 'DEGRADED', 'FENCED'], v.nodes.map((r) => zeroLossCells(r))));
  }
  out.push('');
  out.push(table(['PROXY', 'HEALTH', 'PORT', 'ROUTES TO'],
    v.proxies.map((p) => [p.service, p.taskState === 'running' || p.taskState === 'starting' ? p.health || p.taskState : p.taskState, p.publishedPort ? String(p.publishedPort) : '-', p.primary ?? '-'])));
  if (v.problems.length) {
    out.push('');
    out.push('problems:');
    for (const p of v.problems) out.push(`  - ${p}`);
  }
  return out.join('\n');
}

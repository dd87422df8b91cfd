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
    return {
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

export function renderStatus(v: StatusView): string {
  const out: string[] = [];
  out.push(`primary: ${v.primary ?? '(none agreed)'}`);
  out.push('');
  out.push(table(['NODE', 'ROLE', 'HEALTH', 'LAG', 'TIMELINE', 'LAST DECISION', 'REASON'],
    v.nodes.map((r) => [r.node, r.role, r.health, fmtBytes(r.lagBytes), r.timeline === null ? '-' : String(r.timeline), r.decision, r.reason])));
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

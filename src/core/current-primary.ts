/**
 * current-primary: who is the primary, as this node sees the cluster.
 * Pure; the adapter probes every member (short timeouts) and hands the
 * results here. Copes with a degraded cluster (members down) and with two
 * nodes claiming primary: then it trusts what healthy standbys follow, as
 * the original images did, and reports none when that does not settle it.
 */

export type MemberView =
  | { name: string; reachable: false; error: string; /** the probe only ran out of time (no refusal, no server error) */ timedOut?: boolean }
  | { name: string; reachable: true; role: 'primary' | 'standby'; timeline: number | null; lsn: string | null; upstream: string | null; streaming: boolean };

export interface CurrentPrimary {
  primary: string | null;
  node: string;
  role: 'primary' | 'standby' | 'down' | 'witness';
  timeline: number | null;
  lsn: string | null;
  upstream: string | null;
  members: { name: string; reachable: boolean; role: 'primary' | 'standby' | 'down'; timeline: number | null; upstream: string | null }[];
  reason: string;
  /** The witness this node is configured with (set by the answer loop), so proxies can spot a PGSWARM_WITNESS that differs. */
  witness?: string | null;
}

export const EXIT_PRIMARY = 0;
export const EXIT_ERROR = 2;
export const EXIT_NO_PRIMARY = 3;

type Up = Extract<MemberView, { reachable: true }>;

export function currentPrimary(self: string, views: readonly MemberView[]): CurrentPrimary {
  const up = views.filter((v): v is Up => v.reachable);
  const primaries = up.filter((v) => v.role === 'primary');
  const me = views.find((v) => v.name === self);
  const members = views.map((v) =>
    v.reachable
      ? { name: v.name, reachable: true, role: v.role, timeline: v.timeline, upstream: v.upstream }
      : { name: v.name, reachable: false, role: 'down' as const, timeline: null, upstream: null },
  );
  const base = {
    node: self,
    role: me && me.reachable ? me.role : ('down' as const),
    timeline: me && me.reachable ? me.timeline : null,
    lsn: me && me.reachable ? me.lsn : null,
    upstream: me && me.reachable ? me.upstream : null,
    members,
  };
  const down = views.filter((v) => !v.reachable).map((v) => v.name);
  const degraded = down.length ? ` (degraded: ${down.join(', ')} unreachable)` : '';
  if (primaries.length === 1) {
    return { ...base, primary: primaries[0].name, reason: `${primaries[0].name} is the only node running as primary${degraded}` };
  }
  if (primaries.length === 0) {
    return { ...base, primary: null, reason: `no reachable node runs as primary${degraded}` };
  }
  // Several claim primary: trust the upstream that healthy (streaming) standbys follow.
  const followed = new Map<string, number>();
  for (const s of up) {
    if (s.role === 'standby' && s.streaming && s.upstream && primaries.some((p) => p.name === s.upstream)) {
      followed.set(s.upstream, (followed.get(s.upstream) ?? 0) + 1);
    }
  }
  const ranked = [...followed.entries()].sort((a, b) => b[1] - a[1]);
  const claim = primaries.map((p) => `${p.name} (timeline ${p.timeline ?? '?'})`).join(', ');
  if (ranked.length && (ranked.length === 1 || ranked[0][1] > ranked[1][1])) {
    return { ...base, primary: ranked[0][0], reason: `several nodes claim primary: ${claim}; trusting ${ranked[0][0]}, followed by ${ranked[0][1]} streaming standby(s)${degraded}` };
  }
  // No standby settles it: a strictly newest timeline does (a promotion always starts one).
  const tls = primaries.map((p) => p.timeline ?? -1).sort((a, b) => b - a);
  if (tls[0] > tls[1]) {
    const newest = primaries.find((p) => (p.timeline ?? -1) === tls[0])!;
    return { ...base, primary: newest.name, reason: `several nodes claim primary: ${claim}; no streaming standby follows either, trusting the newest timeline ${tls[0]} on ${newest.name}${degraded}` };
  }
  return { ...base, primary: null, reason: `several nodes claim primary: ${claim}; nothing settles which is real, reporting none${degraded}` };
}

/** Human line then machine line, as the proxy parses it. */
export function formatCurrentPrimary(r: CurrentPrimary): string {
  return `PRIMARY: ${r.primary ?? 'none'}\n${JSON.stringify(r)}\n`;
}

/** Parses the two lines back (used by the proxy and by tests); returns null for anything malformed. */
export function parseCurrentPrimary(text: string): CurrentPrimary | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const m = /^PRIMARY: (\S+)$/.exec(lines[0]);
  if (!m) return null;
  try {
    const j = JSON.parse(lines[1]) as CurrentPrimary;
    if (typeof j !== 'object' || j === null || typeof j.node !== 'string' || !('primary' in j)) return null;
    if ((j.primary ?? 'none') !== m[1]) return null;
    if (!['primary', 'standby', 'down', 'witness'].includes(j.role)) return null;
    return j;
  } catch {
    return null;
  }
}

/** A planned switchover hold read from the primary (pgswarm.switchover), if any. */
export interface SwitchoverHold {
  target: string;
  deadline: string;
}

/** While a planned switchover is under way, report no primary: the proxies pause instead of routing. */
export function applySwitchoverHold(r: CurrentPrimary, hold: SwitchoverHold | null): CurrentPrimary {
  if (!hold || !r.primary) return r;
  return { ...r, primary: null, reason: `planned switchover from ${r.primary} to ${hold.target} in progress (hold until ${hold.deadline}): reporting no primary so the proxies pause` };
}

import { judgeLocalLoad, STARVED_SHARE } from './local-load';

/**
 * Should a primary fence itself (stop PostgreSQL, so no client can write)?
 * Voters: every data member, every witness and every proxy; this node counts
 * itself. A primary that reaches fewer than a majority of them for longer
 * than fenceAfterMs fences: the other side may be electing a new primary.
 * A primary that sees another member running as primary on a newer timeline
 * fences at once: the cluster has moved on without it.
 * A primary from which no standby has streamed yet on its current timeline
 * (a brand-new cluster whose standbys are still cloning) does not fence on a
 * lost majority: the promotion guard never promotes a standby that has not
 * streamed, so nobody can take its place, and fencing would only stop the
 * cluster's one copy of the data.
 * A probe round during which this node's cgroup was CPU-throttled for a good
 * share of the time does not fence (rule starved): a primary held at 0.1 CPU
 * fenced itself in the chaos suite and caused a failover that nothing else
 * called for. Its clock keeps running, so the first unthrottled round that
 * still lacks a majority fences at once.
 */

export interface FenceInput {
  /** Data members, this node included. */
  dataMembers: number;
  witnesses: number;
  proxies: number;
  reachablePeers: number;
  reachableWitnesses: number;
  reachableProxies: number;
  /** How long the majority has been out of reach (ms); 0 when it is reachable now. */
  majorityLostForMs: number;
  /** 0 disables fencing on lost majority (never the newer-primary rule). */
  fenceAfterMs: number;
  /** A reachable member running as primary on a newer timeline than ours, if any. */
  newerPrimary: string | null;
  /** Has any standby streamed from this primary on its current timeline (could anyone be promoted in its place)? */
  successorPossible: boolean;
  /** Share (0..1) of the last probe round this node's cgroup spent CPU-throttled; null or absent = unknown. */
  throttledShare?: number | null;
  /** How late this agent's own timers ran during the probe round (ms); absent = 0. */
  loopLagMs?: number;
}

export { STARVED_SHARE };

export interface FenceDecision {
  fence: boolean;
  majority: boolean;
  reachable: number;
  total: number;
  need: number;
  rule: string;
  reason: string;
}

export function quorum(i: Pick<FenceInput, 'dataMembers' | 'witnesses' | 'proxies' | 'reachablePeers' | 'reachableWitnesses' | 'reachableProxies'>): { reachable: number; total: number; need: number; majority: boolean } {
  const total = i.dataMembers + i.witnesses + i.proxies;
  const reachable = 1 + i.reachablePeers + i.reachableWitnesses + i.reachableProxies;
  const need = Math.floor(total / 2) + 1;
  return { reachable, total, need, majority: reachable >= need };
}

export function decideFence(i: FenceInput): FenceDecision {
  const q = quorum(i);
  const seen = `${q.reachable} of ${q.total} voters reachable (this node, ${i.reachablePeers}/${i.dataMembers - 1} peers, ${i.reachableWitnesses}/${i.witnesses} witnesses, ${i.reachableProxies}/${i.proxies} proxies; ${q.need} needed)`;
  if (i.newerPrimary) {
    return { fence: true, ...q, rule: 'newer-primary', reason: `${i.newerPrimary} runs as primary on a newer timeline: the cluster moved on without this node; fencing now so it can rejoin as a standby` };
  }
  if (q.majority) return { fence: false, ...q, rule: 'majority', reason: seen };
  if (!i.successorPossible) return { fence: false, ...q, rule: 'no-successor', reason: `majority lost (${seen}) but no standby has streamed from this primary on its timeline yet, so none can be promoted in its place: not fencing the only copy` };
  if (i.fenceAfterMs <= 0) return { fence: false, ...q, rule: 'fencing-off', reason: `majority lost (${seen}) but fencing is off (PGSWARM_FENCE_AFTER_MS=0)` };
  const load = judgeLocalLoad({ loopLagMs: i.loopLagMs ?? 0, throttledShare: i.throttledShare ?? null });
  if (load.starved) {
    return { fence: false, ...q, rule: 'starved', reason: `majority lost for ${i.majorityLostForMs} ms (${seen}), but ${load.reason}: the probes may have failed because this node is starved, not cut off; not fencing on this round (the lost-majority clock keeps running)` };
  }
  if (i.majorityLostForMs < i.fenceAfterMs) {
    return { fence: false, ...q, rule: 'grace', reason: `majority lost for ${i.majorityLostForMs} ms (${seen}); fencing after ${i.fenceAfterMs} ms` };
  }
  return { fence: true, ...q, rule: 'majority-lost', reason: `majority lost for ${i.majorityLostForMs} ms (${seen}), limit ${i.fenceAfterMs} ms: the others may be promoting a new primary; stopping PostgreSQL so no client can write here` };
}

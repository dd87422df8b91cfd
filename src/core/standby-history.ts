/**
 * What a standby remembers about its own replication, kept by its agent in a
 * small state file (state/standby-history.json) and read by the promotion guard
 * when repmgrd wants to promote it: "I was streaming (and synchronous) at T
 * with LSN L, and at my last look at the primary these other standbys were
 * streaming too". Pure update function; the agent does the I/O.
 */
import type { ReplicationRow } from './sync-standbys';

export interface StandbyHistory {
  node: string;
  /** Last time (ms since epoch) this node's WAL receiver was streaming. null: never since it became a standby. */
  streamingAt: number | null;
  /** Last time the primary listed this node as a synchronous/quorum standby that streams. */
  syncAt: number | null;
  /** WAL received (flushed) here at the last tick. */
  receivedLsn: string | null;
  /** The member it streamed from at the last tick. */
  upstream: string | null;
  /** Last time this node read the primary's pg_stat_replication. */
  observedAt: number | null;
  /** Whether this node was synchronous (quorum or sync, streaming) in that view. */
  syncAtObservation: boolean;
  /** Other standbys streaming from the primary in that view. */
  othersStreaming: string[];
}

export interface StandbyTick {
  node: string;
  now: number;
  streaming: boolean;
  receivedLsn: string | null;
  upstream: string | null;
  /** The primary's pg_stat_replication, or null when it could not be read this tick. */
  primaryView: readonly ReplicationRow[] | null;
}

export function emptyHistory(node: string): StandbyHistory {
  return { node, streamingAt: null, syncAt: null, receivedLsn: null, upstream: null, observedAt: null, syncAtObservation: false, othersStreaming: [] };
}

export function recordStandbyTick(prev: StandbyHistory | null, t: StandbyTick): StandbyHistory {
  const h: StandbyHistory = prev && prev.node === t.node ? { ...prev } : emptyHistory(t.node);
  if (t.streaming) h.streamingAt = t.now;
  if (t.receivedLsn) h.receivedLsn = t.receivedLsn;
  if (t.upstream) h.upstream = t.upstream;
  if (t.primaryView) {
    const mine = t.primaryView.find((r) => r.name === t.node);
    const sync = !!mine && mine.state === 'streaming' && (mine.syncState === 'sync' || mine.syncState === 'quorum');
    h.observedAt = t.now;
    h.syncAtObservation = sync;
    if (sync) h.syncAt = t.now;
    h.othersStreaming = t.primaryView.filter((r) => r.name !== t.node && r.state === 'streaming').map((r) => r.name).sort();
  }
  return h;
}

/** Validates a history read back from disk; null for anything malformed (treated as "never streamed"). */
export function parseHistory(text: string): StandbyHistory | null {
  try {
    const j = JSON.parse(text) as Partial<StandbyHistory>;
    const num = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));
    const str = (v: unknown) => v === null || typeof v === 'string';
    if (typeof j !== 'object' || j === null || typeof j.node !== 'string') return null;
    if (!num(j.streamingAt) || !num(j.syncAt) || !num(j.observedAt) || !str(j.receivedLsn) || !str(j.upstream)) return null;
    if (typeof j.syncAtObservation !== 'boolean' || !Array.isArray(j.othersStreaming) || !j.othersStreaming.every((x) => typeof x === 'string')) return null;
    return j as StandbyHistory;
  } catch {
    return null;
  }
}

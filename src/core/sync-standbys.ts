/**
 * Which standbys must confirm a commit before the primary acknowledges it.
 * Pure: the primary's agent calls it about once a second with what
 * pg_stat_replication shows, and applies the answer only when it changes.
 *
 * Modes:
 *  - async:   '' (no commit waits for a standby). Acknowledged commits can be
 *             lost when the primary dies before its standbys received them.
 *  - strict:  `ANY 1 (every other data member)`, always. A commit is
 *             acknowledged only once at least one standby has flushed it, and
 *             when no standby is there, writes wait: nothing acknowledged can
 *             be lost, at the cost of availability.
 *  - degrade: `ANY 1 (healthy streaming standbys)`; when none has been
 *             healthy for the degrade timeout, '' (asynchronous) with
 *             degraded=true and a loud reason. Writes go on; a failover while
 *             degraded can lose what was acknowledged meanwhile.
 */
import { compareLsn } from './lsn';

export type SyncMode = 'async' | 'strict' | 'degrade';
export const SYNC_MODES: readonly SyncMode[] = ['async', 'strict', 'degrade'];

/** One row of the primary's pg_stat_replication (application_name = repmgr node name). */
export interface ReplicationRow {
  name: string;
  state: string | null;
  syncState: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
}

export interface SyncInput {
  mode: SyncMode;
  /** Every other data member (not this primary, not a witness). */
  others: readonly string[];
  replication: readonly ReplicationRow[];
  /** How long no standby has been healthy (ms); 0 when one is healthy now. */
  noHealthyForMs: number;
  degradeAfterMs: number;
}

export interface SyncDecision {
  synchronousStandbyNames: string;
  /** Set for the synchronous modes, so a server-wide 'off'/'local' cannot weaken them. */
  synchronousCommit?: 'on';
  degraded: boolean;
  /** Healthy (streaming) standbys among the other data members. */
  healthy: string[];
  rule: string;
  reason: string;
}

/** `ANY 1 ("a", "b")`: names always double-quoted (node names may contain '-'). */
export function anyOne(names: readonly string[]): string {
  return names.length ? `ANY 1 (${names.map((n) => `"${n.replace(/"/g, '""')}"`).join(', ')})` : '';
}

/** Streaming standbys that are data members, most advanced first. */
export function healthyStandbys(others: readonly string[], rows: readonly ReplicationRow[]): string[] {
  const set = new Set(others);
  return rows
    .filter((r) => set.has(r.name) && r.state === 'streaming')
    .sort((a, b) => compareLsn(b.flushLsn, a.flushLsn) || a.name.localeCompare(b.name))
    .map((r) => r.name)
    .filter((n, i, all) => all.indexOf(n) === i);
}

export function decideSyncStandbys(i: SyncInput): SyncDecision {
  const healthy = healthyStandbys(i.others, i.replication);
  const others = [...i.others].sort();
  if (i.mode === 'async') {
    return { synchronousStandbyNames: '', degraded: false, healthy, rule: 'async', reason: 'asynchronous mode: commits do not wait for any standby' };
  }
  if (!others.length) {
    return { synchronousStandbyNames: '', degraded: true, healthy, rule: 'no-standby-configured', reason: `${i.mode} mode but the cluster has no other data member: commits cannot wait for a standby (configuration error)` };
  }
  if (i.mode === 'strict') {
    return {
      synchronousStandbyNames: anyOne(others), synchronousCommit: 'on', degraded: false, healthy, rule: healthy.length ? 'strict' : 'strict-waiting',
      reason: healthy.length
        ? `strict mode: a commit is acknowledged once any 1 of ${others.join(', ')} has flushed it (streaming now: ${healthy.join(', ')})`
        : `strict mode: no standby is streaming (${others.join(', ')} configured): writes WAIT until one streams again; nothing acknowledged can be lost`,
    };
  }
  // degrade
  if (healthy.length) {
    return { synchronousStandbyNames: anyOne([...healthy].sort()), synchronousCommit: 'on', degraded: false, healthy, rule: 'degrade-sync', reason: `degrade mode: synchronous on the healthy standbys ${[...healthy].sort().join(', ')}` };
  }
  if (i.noHealthyForMs < i.degradeAfterMs) {
    return {
      synchronousStandbyNames: anyOne(others), synchronousCommit: 'on', degraded: false, healthy, rule: 'degrade-waiting',
      reason: `degrade mode: no standby streaming for ${i.noHealthyForMs} ms; writes wait for up to ${i.degradeAfterMs} ms before switching to asynchronous`,
    };
  }
  return {
    synchronousStandbyNames: '', degraded: true, healthy, rule: 'degraded',
    reason: `DEGRADED TO ASYNCHRONOUS: no standby of ${others.join(', ')} has streamed for ${i.noHealthyForMs} ms (limit ${i.degradeAfterMs} ms); commits are acknowledged without any standby and a failover now can LOSE them`,
  };
}

/**
 * What a standby keeps in its own config, so that the moment it is promoted
 * it already waits for a standby (no asynchronous window before its agent's
 * first tick): in strict and degrade mode, ANY 1 of every other data member.
 */
export function standbySyncNames(mode: SyncMode, others: readonly string[]): string {
  return mode === 'async' ? '' : anyOne([...others].sort());
}

import type { Client } from 'pg';
import type { Member } from '../core/node-config';
import type { ReplicationRow } from '../core/sync-standbys';
import type { PeerLsn } from '../core/promotion-guard';
import { withPg } from './pg-connect';
import { probeTarget, probeQuery, ProbeCreds } from './peer-probe';

/** This node's replication state, read through one local connection. */
export interface LocalReplication {
  inRecovery: boolean;
  timeline: number;
  /** Standby: WAL received and flushed here. Primary: current WAL position. */
  receivedLsn: string | null;
  replayedLsn: string | null;
  receiverStatus: string | null;
  senderHost: string | null;
  senderPort: number | null;
  synchronousStandbyNames: string;
  /** Standby: false when a promotion guard detached it (primary_conninfo emptied). */
  hasConninfo: boolean;
  /** The candidate whose promotion guard detached this standby (pgswarm.detached_by), if any. */
  detachedBy: string | null;
  /** The primary's pg_stat_replication (empty on a standby). */
  replication: ReplicationRow[];
}

const LOCAL_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()::text ELSE pg_current_wal_lsn()::text END AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
       (SELECT sender_host FROM pg_stat_wal_receiver) AS sender_host,
       (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port,
       current_setting('synchronous_standby_names') AS ssn,
       current_setting('primary_conninfo') <> '' AS has_conninfo,
       nullif(current_setting('pgswarm.detached_by', true), '') AS detached_by`;

export const REPLICATION_SQL = `SELECT application_name AS name, state, sync_state, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn FROM pg_stat_replication`;

interface ReplRow { name: string; state: string | null; sync_state: string | null; flush_lsn: string | null; replay_lsn: string | null }

export function toReplicationRows(rows: ReplRow[]): ReplicationRow[] {
  return rows.map((r) => ({ name: r.name, state: r.state, syncState: r.sync_state, flushLsn: r.flush_lsn, replayLsn: r.replay_lsn }));
}

export async function readLocalReplication(c: Client): Promise<LocalReplication> {
  const r = (await c.query(LOCAL_SQL)).rows[0] as Record<string, unknown>;
  const inRecovery = r.in_recovery as boolean;
  const replication = inRecovery ? [] : toReplicationRows((await c.query(REPLICATION_SQL)).rows as ReplRow[]);
  return {
    inRecovery,
    timeline: Number(r.timeline),
    receivedLsn: (r.received_lsn as string | null) ?? null,
    replayedLsn: (r.replayed_lsn as string | null) ?? null,
    receiverStatus: (r.receiver_status as string | null) ?? null,
    senderHost: (r.sender_host as string | null) ?? null,
    senderPort: r.sender_port === null || r.sender_port === undefined ? null : Number(r.sender_port),
    synchronousStandbyNames: String(r.ssn ?? ''),
    hasConninfo: r.has_conninfo !== false,
    detachedBy: (r.detached_by as string | null) ?? null,
    replication,
  };
}

/** A peer's role, timeline and received LSN for the promotion guard and the fast follow (short timeout). */
export async function probePeerLsn(m: Member, c: ProbeCreds): Promise<PeerLsn & { timeline?: number }> {
  try {
    const r = (await probeQuery(probeTarget(m, c), c, LOCAL_SQL))[0];
    return { name: m.name, reachable: true, inRecovery: r.in_recovery as boolean, receivedLsn: (r.received_lsn as string | null) ?? null, timeline: Number(r.timeline) };
  } catch (e) {
    return { name: m.name, reachable: false, error: (e as Error).message };
  }
}

/**
 * Detaches a sibling standby from whatever it streams from (the promotion
 * guard's step before a promotion): primary_conninfo emptied with ALTER
 * SYSTEM and a reload, which stops its WAL receiver and starts none; then
 * waits until pg_stat_wal_receiver is empty and reads its final position.
 * The sibling's agent re-attaches it to the newest primary (docs/zero-loss.md).
 * Returns detached=false (with the reason) when it could not be confirmed.
 */
export async function detachStandby(m: Member, c: ProbeCreds, waitMs: number, by: string): Promise<{ detached: boolean; why: string; peer: PeerLsn & { timeline?: number } }> {
  try {
    return await withPg(probeTarget(m, c), async (cl) => {
      const probe = async () => (await cl.query(LOCAL_SQL)).rows[0] as Record<string, unknown>;
      const asPeer = (r: Record<string, unknown>) => ({ name: m.name, reachable: true as const, inRecovery: r.in_recovery as boolean, receivedLsn: (r.received_lsn as string | null) ?? null, timeline: Number(r.timeline) });
      let r = await probe();
      if (!r.in_recovery) return { detached: false, why: `${m.name} is not in recovery`, peer: asPeer(r) };
      // Who detached it: the sibling re-attaches to the old primary only once this candidate is seen not promoted.
      await cl.query(`ALTER SYSTEM SET pgswarm.detached_by = '${by.replace(/'/g, "''")}'`);
      await cl.query(`ALTER SYSTEM SET primary_conninfo = ''`);
      await cl.query('SELECT pg_reload_conf()');
      const until = Date.now() + waitMs;
      for (;;) {
        const left = (await cl.query(`SELECT count(*)::int AS n FROM pg_stat_wal_receiver WHERE pid IS NOT NULL`)).rows[0].n as number;
        const conninfo = (await cl.query(`SELECT current_setting('primary_conninfo') = '' AS empty`)).rows[0].empty as boolean;
        if (left === 0 && conninfo) break;
        if (Date.now() > until) {
          r = await probe();
          return { detached: false, why: `${m.name}'s WAL receiver still runs ${waitMs} ms after the reload`, peer: asPeer(r) };
        }
        await new Promise((res) => setTimeout(res, 50));
      }
      r = await probe();
      return { detached: true, why: `${m.name} detached at ${String(r.received_lsn)}`, peer: asPeer(r) };
    });
  } catch (e) {
    return { detached: false, why: `${m.name}: ${(e as Error).message}`, peer: { name: m.name, reachable: false, error: (e as Error).message } };
  }
}

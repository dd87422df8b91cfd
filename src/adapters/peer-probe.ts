import type { Member } from '../core/node-config';
import type { PeerProbe } from '../core/decide-role';
import type { MemberView } from '../core/current-primary';
import { withPg, PgTarget } from './pg-connect';
import type { PgSessions } from './pg-sessions';

export interface ProbeCreds {
  user: string;
  password: string;
  caFile: string;
  timeoutMs: number;
  /** Long-lived agents probe over persistent sessions; one-shot commands connect once and leave. */
  sessions?: PgSessions;
}

/** One query to member `m`: on its persistent session when the caller has one, else on a connection of its own. */
export async function probeQuery<R = Record<string, unknown>>(t: PgTarget, c: ProbeCreds, sql: string, params: unknown[] = []): Promise<R[]> {
  if (c.sessions) return c.sessions.query<R>(t, sql, params, c.timeoutMs);
  return withPg(t, async (cl) => (await cl.query(sql, params)).rows as R[]);
}

const SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_id,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn,
       (SELECT sender_host FROM pg_stat_wal_receiver) AS sender_host,
       (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
       nullif(current_setting('pgswarm.detached_by', true), '') AS detached_by`;

interface Row {
  in_recovery: boolean;
  system_id: string;
  timeline: number;
  lsn: string | null;
  sender_host: string | null;
  sender_port: number | null;
  receiver_status: string | null;
  detached_by: string | null;
}

/** The connection a probe of member `m` uses: its postgres database over verified TLS, short timeout. */
export function probeTarget(m: Member, c: ProbeCreds): PgTarget {
  return { host: m.host, port: m.port, user: c.user, password: c.password, database: 'postgres', caFile: c.caFile, timeoutMs: c.timeoutMs };
}

export async function probeRow(m: Member, c: ProbeCreds): Promise<Row> {
  return (await probeQuery<Row>(probeTarget(m, c), c, SQL))[0];
}

/** Direct probe of a peer's PostgreSQL with a short timeout (for the start-up decision). */
export async function probePeer(m: Member, c: ProbeCreds): Promise<PeerProbe> {
  try {
    const r = await probeRow(m, c);
    return { name: m.name, reachable: true, inRecovery: r.in_recovery, timeline: Number(r.timeline), systemId: r.system_id, detachedBy: r.detached_by ?? null };
  } catch (e) {
    return { name: m.name, reachable: false, error: (e as Error).message };
  }
}

/** A probe that only ran out of time (as opposed to a refusal or an error from the server). */
export function isTimeout(e: Error): boolean {
  return e.name === 'DeadlineExceeded' || /time(d)? ?out|timeout expired/i.test(e.message);
}

/** A member as `current-primary` sees it: role, timeline, LSN and which member it streams from. */
export async function viewMember(m: Member, members: readonly Member[], c: ProbeCreds): Promise<MemberView> {
  try {
    const r = await probeRow(m, c);
    const up = r.sender_host ? members.find((x) => x.host === r.sender_host && x.port === Number(r.sender_port)) : undefined;
    return {
      name: m.name,
      reachable: true,
      role: r.in_recovery ? 'standby' : 'primary',
      timeline: r.timeline === null ? null : Number(r.timeline),
      lsn: r.lsn,
      upstream: up ? up.name : r.sender_host ? `${r.sender_host}:${r.sender_port}` : null,
      streaming: r.receiver_status === 'streaming',
    };
  } catch (e) {
    return { name: m.name, reachable: false, error: (e as Error).message, timedOut: isTimeout(e as Error) };
  }
}

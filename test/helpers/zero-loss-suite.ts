import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { NodeCluster, TestNode, descendants } from './node-cluster';
import { waitFor } from './pg-tools';
import type { AckWriter } from './writer';

interface AckRow { id: string; srv: string; tl: number; at: number }
export type TT = Parameters<Parameters<typeof t.test>[0] extends (t: infer X) => unknown ? (x: X) => void : never>[0];

/**
 * Sends a signal to a node's or proxy's whole process tree (SIGSTOP/SIGCONT: freeze and wake
 * it, as `docker pause` freezes a container's cgroup). The process group alone is not enough:
 * PostgreSQL's backends and WAL senders call setsid(), so a group SIGSTOP left them running, and
 * a "frozen" primary kept committing through its existing connections.
 */
export function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  const send = (p: number) => {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  };
  try {
    process.kill(-pid, sig);
  } catch {
    /* gone */
  }
  // Twice: a process forked while the first pass ran is caught by the second.
  for (let pass = 0; pass < 2; pass++) for (const p of [pid, ...descendants(pid)]) send(p);
}

/** Optional settings of a suite; without them (today's callers) it is strict mode, fencing after 5 s. */
export interface ZeroLossSuiteOptions {
  mode?: 'strict' | 'degrade';
  /** PGSWARM_DEGRADE_AFTER_MS, degrade mode only. */
  degradeAfterMs?: number;
  /** PGSWARM_FENCE_AFTER_MS [5000]; 0 = never fence on a lost majority. */
  fenceAfterMs?: number;
}

/**
 * Strict zero-loss mode (or, with options, degrade mode) on three real pgnode agents and a real pgproxy, shared by the
 * integration tier and the chaos tier: registers the set-up, the teardown and the
 * cold-start test on the root tap test, and returns the helpers the scenarios use.
 * Every acknowledged write is recorded and looked for afterwards; each row also records
 * which server and timeline accepted it, so two primaries accepting writes at once would show.
 */
export function zeroLossSuite(prefix: string, base: number, opts: ZeroLossSuiteOptions = {}) {
  const mode = opts.mode ?? 'strict';
  const c = new NodeCluster(prefix, base);
  c.extraEnv = { PGSWARM_SYNC_MODE: mode, PGSWARM_FENCE_AFTER_MS: String(opts.fenceAfterMs ?? 5000), PGSWARM_SYNC_INTERVAL_MS: '300' };
  if (mode === 'degrade' && opts.degradeAfterMs !== undefined) c.extraEnv.PGSWARM_DEGRADE_AFTER_MS = String(opts.degradeAfterMs);
  // A frozen member makes each node's current-primary wait its connect timeout (2 s), so the proxy's
  // SSH timeout must exceed it, or every answer times out while one member hangs (field notes pitfall 8).
  const proxyEnv = c.proxyEnv.bind(c);
  c.proxyEnv = () => ({ ...proxyEnv(), PGSWARM_SSH_TIMEOUT_MS: '4000' });
  t.teardown(async () => {
    for (const n of c.nodes) signalGroup(n.proc?.pid, 'SIGCONT');
    signalGroup(c.proxy?.pid, 'SIGCONT');
    await c.teardown();
  });

  /** A proxy client that gives up on a write after 5 s (an unacknowledged write, never counted). */
  const proxyClient = () => c.proxyClient('app', 'app-password', { connectMs: 3000, queryMs: 5000 });
  const byName = (name: string | null) => c.nodes.find((n) => n.name === name)!;
  const routed = async () => waitFor('the proxy routes to a primary', async () => c.routedTo(), 60000, 100);
  const events = (n: TestNode, ev: string) => c.logEvents(n).filter((e) => e.event === ev);

  const checkNothingLost = (t: TT, w: AckWriter, label: string) => checkAcksOnCluster(c, t, w, label);

  t.before(async () => {
    await c.setup();
    writeAcksSchema(c);
  });

  t.test(`${mode} cold start: both standbys stream as quorum standbys, each keeps a streaming history`, async (t) => {
    c.startProxy();
    for (const n of c.nodes) c.start(n);
    for (const n of c.nodes) await c.waitRunning(n, 180000);
    t.equal(await waitFor('proxy routes to n1', async () => ((await c.routedTo()) === 'n1' ? 'n1' : null), 60000), 'n1');
    const view = await waitFor('both standbys quorum-synchronous', async () => {
      const r = await c.query<{ name: string; sync_state: string; ssn: string }>(c.nodes[0], "SELECT application_name AS name, sync_state, current_setting('synchronous_standby_names') AS ssn FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
      return r.length === 2 && r.every((x) => x.sync_state === 'quorum') ? r : null;
    }, 60000, 300);
    t.equal(view[0].ssn, 'ANY 1 ("n2", "n3")', 'the primary waits for any 1 of all other data nodes');
    t.match(JSON.stringify(events(c.nodes[0], 'sync-standbys-changed')), /ANY 1/, 'the change was logged with its reason');
    // Commit latency on loopback, same session: waiting for a standby's flush vs local only.
    const cl = c.client(c.nodes[0]);
    await cl.connect();
    const timeIt = async (mode: string, from: number) => {
      await cl.query(`SET synchronous_commit = ${mode}`);
      const ms: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = process.hrtime.bigint();
        await cl.query('INSERT INTO acks (id) VALUES ($1)', [from + i]);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      ms.sort((a, b) => a - b);
      return { p50: ms[150], p95: ms[285], mean: ms.reduce((a, b) => a + b, 0) / ms.length };
    };
    const sync = await timeIt('on', -100000);
    const local = await timeIt('local', -200000);
    await cl.query('DELETE FROM acks');
    await cl.end();
    const f = (x: { p50: number; p95: number; mean: number }) => `p50 ${x.p50.toFixed(2)} ms, p95 ${x.p95.toFixed(2)} ms, mean ${x.mean.toFixed(2)} ms`;
    t.comment(`commit latency, 300 single-row INSERTs each: synchronous (ANY 1 of 2 standbys) ${f(sync)}; local only ${f(local)}`);
    t.ok(sync.p50 > 0 && local.p50 > 0, 'latency measured');
    for (const s of c.nodes.slice(1)) {
      const h = await waitFor(`${s.name} history`, async () => {
        const j = JSON.parse(fs.readFileSync(path.join(s.home, 'state', 'standby-history.json'), 'utf8')) as { streamingAt: number | null; syncAtObservation: boolean };
        return j.streamingAt && j.syncAtObservation ? j : null;
      }, 20000, 300);
      t.ok(h.streamingAt, `${s.name} recorded that it streams, synchronously`);
    }
  });

  return { c, proxyClient, byName, routed, events, checkNothingLost };
}

/**
 * Every acknowledged id is on the primary the proxy routes to and on each standby; acknowledged writes of
 * different (server, timeline) never overlap in time. Used by the zero-loss suite and the 2+1 witness test.
 */
export async function checkAcksOnCluster(c: NodeCluster, t: TT, w: AckWriter, label: string, waits: { routedMs?: number; standbyMs?: number } = {}): Promise<void> {
  const name = await waitFor('the proxy routes to a primary', async () => c.routedTo(), waits.routedMs ?? 60000, 100);
  const p = c.nodes.find((n) => n.name === name)!;
  const rows = await c.query<AckRow>(p, 'SELECT id, srv, tl, (extract(epoch FROM at) * 1000)::float8 AS at FROM acks');
  const byId = new Map(rows.map((r) => [Number(r.id), r]));
  const lost = w.acked.filter((a) => !byId.has(a.id));
  t.equal(lost.length, 0, `${label}: every one of ${w.acked.length} acknowledged writes is on the primary ${p.name} (missing: ${lost.slice(0, 5).map((a) => a.id).join(', ')})`);
  for (const s of c.nodes.filter((n) => n !== p)) {
    const missing = await waitFor(`${s.name} has every acknowledged write`, async () => {
      const ids = new Set((await c.query<{ id: string }>(s, 'SELECT id FROM acks')).map((r) => Number(r.id)));
      return w.acked.every((a) => ids.has(a.id)) ? 'none' : null;
    }, waits.standbyMs ?? 30000, 300).catch((e: Error) => e.message);
    t.equal(missing, 'none', `${label}: standby ${s.name} holds every acknowledged write`);
  }
  const windows = new Map<string, { from: number; to: number }>();
  for (const a of w.acked) {
    const r = byId.get(a.id);
    if (!r) continue;
    const k = `${r.srv} timeline ${r.tl}`;
    const x = windows.get(k);
    windows.set(k, x ? { from: Math.min(x.from, r.at), to: Math.max(x.to, r.at) } : { from: r.at, to: r.at });
  }
  const sorted = [...windows.entries()].sort((a, b) => a[1].from - b[1].from);
  for (let i = 1; i < sorted.length; i++) {
    t.ok(sorted[i][1].from > sorted[i - 1][1].to, `${label}: ${sorted[i - 1][0]} stopped accepting acknowledged writes before ${sorted[i][0]} started (no split brain)`);
  }
  t.comment(`${label}: write windows ${sorted.map(([k, v]) => `${k} ${Math.round(v.to - v.from)} ms`).join('; ')}`);
}

/** The app role and the acks table (each row records the server and timeline that accepted it), as an initdb script of the cluster. */
export function writeAcksSchema(c: NodeCluster): void {
  fs.mkdirSync(path.join(c.dir, 'initdb.d'));
  fs.writeFileSync(path.join(c.dir, 'initdb.d', '01-app.sql'), `CREATE ROLE app LOGIN PASSWORD 'app-password';
CREATE TABLE acks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(),
  srv text NOT NULL DEFAULT host(inet_server_addr()),
  tl int NOT NULL DEFAULT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int);
GRANT INSERT, SELECT ON acks TO app;
`);
}

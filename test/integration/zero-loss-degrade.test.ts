import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor, sleep } from '../helpers/pg-tools';
import { AckWriter } from '../helpers/writer';
import { zeroLossSuite } from '../helpers/zero-loss-suite';
import type { TestNode } from '../helpers/node-cluster';
import { sendControl } from '../../src/runtime/control-server';
import { buildStatus, renderStatus, parseSyncStatus, parseFence, NodeObservation } from '../../src/cli/status-view';

// Degrade mode (ports 15900-15930): both standbys' PostgreSQL stopped -> writes wait, then after
// PGSWARM_DEGRADE_AFTER_MS the primary goes asynchronous; standbys back -> synchronous again, 0 lost.
// Then a strict-mode contrast on the same data: with both standbys down a write is not acknowledged.
//
// Why "the standbys' PostgreSQL stopped" rather than "the standby nodes killed": the proxy routes only to
// a node named by a majority of ALL data members (src/core/vote.ts), so with both standby nodes dead it
// pauses, and no write through it is acknowledged in any mode. Degrade mode matters, through the proxy,
// when the standby nodes are up (their agents answer current-primary) but replicate nothing: PostgreSQL
// down or crash-looping, replication broken. Fencing is off here (PGSWARM_FENCE_AFTER_MS=0): with one
// proxy the primary sees 2 of 4 voters once both standbys' PostgreSQL is down and would fence; the
// default stack has two proxies (3 of 5, no fencing). See docs/zero-loss.md.
const LIMIT = 10000; // the default
const { c, byName, routed, events, checkNothingLost } = zeroLossSuite('zld', 15900, { mode: 'degrade', degradeAfterMs: LIMIT, fenceAfterMs: 0 });

/** Through the proxy; a write may wait up to 30 s (longer than the degrade limit), so the stall is measured to the ms. */
const patientClient = () => c.proxyClient('app', 'app-password', { queryMs: 30000 });
const runFile = (n: TestNode, f: string) => {
  try {
    return fs.readFileSync(path.join(n.home, 'state', f), 'utf8');
  } catch {
    return null;
  }
};
const syncStatus = (n: TestNode) => parseSyncStatus(runFile(n, 'sync-status.json'));
const ssn = async (n: TestNode) => (await c.query<{ s: string }>(n, "SELECT current_setting('synchronous_standby_names') AS s"))[0].s;
/** Stops a node's PostgreSQL through its control socket (as repmgr's service_stop_command does): the agent, sshd and current-primary stay up. */
const stopPostgres = (n: TestNode) => sendControl(path.join(n.home, 'state', 'ctl.sock'), 'stop', 60000);
const strictEnv = (n: TestNode) => {
  const env: Record<string, string> = { ...c.env(n), PGSWARM_SYNC_MODE: 'strict' };
  delete env.PGSWARM_DEGRADE_AFTER_MS; // only valid in degrade mode
  return env;
};
/** What `pgswarm status` shows, built from the nodes' real files (the swarm reads the same files with docker exec). */
async function statusNow(): Promise<string> {
  const p = await c.routedTo();
  const obs: NodeObservation[] = [];
  for (const n of c.nodes) {
    const rec = await c.inRecovery(n);
    obs.push({
      service: n.name, taskState: 'running', health: 'healthy',
      cp: { node: n.name, role: rec === null ? 'down' : rec ? 'standby' : 'primary', primary: p, upstream: null, timeline: null, lsn: null, members: [], reason: 'test' },
      syncStatus: parseSyncStatus(runFile(n, 'sync-status.json')),
      fence: parseFence(runFile(n, 'fence.json')),
    });
  }
  return renderStatus(buildStatus(obs, []));
}

t.test('degrade: both standbys down -> writes wait PGSWARM_DEGRADE_AFTER_MS, then go on asynchronously (logged, in sync-status.json); standbys back -> synchronous again, 0 lost', async (t) => {
  const p = byName(await routed());
  const standbys = c.nodes.filter((n) => n !== p);
  const all = `ANY 1 (${standbys.map((s) => `"${s.name}"`).sort().join(', ')})`;
  await waitFor('both standbys stream, synchronous', async () => ((await ssn(p)) === all ? true : null), 60000, 300);
  const before = await waitFor('sync-status.json: synchronous on both', async () => {
    const s = syncStatus(p);
    return s && s.rule === 'degrade-sync' && s.names === all ? s : null;
  }, 30000, 300);
  t.equal(before.degraded, false, 'sync-status.json: not degraded while both standbys stream');

  const w = new AckWriter(patientClient, 'acks', 50, 1);
  w.start();
  await waitFor('writes flowing', async () => w.acked.length > 20, 30000);

  const stopAt = Date.now();
  await Promise.all(standbys.map((s) => stopPostgres(s)));
  const stoppedAt = Date.now();
  t.comment(`both standbys' PostgreSQL stopped in ${stoppedAt - stopAt} ms`);

  // While waiting (half-way through the limit, counted from the stop): not degraded yet, no write acknowledged,
  // the proxy still routes to the primary. A loaded machine can take seconds to stop the standbys; then skip.
  const half = stopAt + LIMIT / 2;
  if (Date.now() < half - 500) {
    await sleep(half - Date.now());
    t.equal(w.acked.filter((a) => a.startedAt > stoppedAt).length, 0, `half-way through the limit (${LIMIT / 2} ms after the stop): no write acknowledged (they wait)`);
    t.equal(syncStatus(p)?.degraded, false, 'half-way: sync-status.json not yet degraded');
    t.equal(syncStatus(p)?.rule, 'degrade-waiting', 'half-way: sync-status.json says degrade-waiting');
  } else t.comment(`stopping took ${stoppedAt - stopAt} ms: half-way checks skipped`);
  t.equal(await waitFor('the proxy routes to the primary', async () => ((await c.routedTo()) === p.name ? p.name : null), 30000, 200).catch(() => null), p.name, 'the proxy still routes to the primary (the standby nodes still answer)');

  const firstAck = await waitFor('a write acknowledged after the degrade limit', async () => w.firstAckAfter(stoppedAt), LIMIT + 60000, 50);
  const stall = firstAck - stopAt;
  t.comment(`degrade stall: both standbys' PostgreSQL stopped -> first acknowledged write through the proxy: ${stall} ms (limit ${LIMIT} ms)`);
  const early = w.acked.filter((a) => a.startedAt > stoppedAt && a.at < stopAt + LIMIT);
  t.equal(early.length, 0, `no write sent after the standbys stopped was acknowledged before the limit (${LIMIT} ms)`);
  t.ok(stall >= LIMIT, `the first such write was acknowledged ${stall} ms after the stop, not before ${LIMIT} ms`);

  // (A slow cold start can degrade once before the scenario; only events since the stop count.)
  const deg = events(p, 'sync-degraded').filter((e) => Date.parse(String(e.time)) >= stopAt);
  t.equal(deg.length, 1, 'one sync-degraded event since the stop');
  t.equal(deg[0]?.level, 50, 'logged at level error');
  const degAt = Date.parse(String(deg[0]?.time));
  t.ok(degAt >= stopAt + LIMIT, `sync-degraded logged ${degAt - stopAt} ms after the stop (not before the limit)`);
  const st = await waitFor('sync-status.json says degraded', async () => (syncStatus(p)?.degraded ? syncStatus(p) : null), 10000, 200);
  t.equal(st.rule, 'degraded', 'sync-status.json: rule degraded');
  t.equal(st.names, '', "sync-status.json: synchronous_standby_names ''");
  t.match(st.reason, /DEGRADED TO ASYNCHRONOUS/, 'sync-status.json says why');
  t.ok(st.since && Date.parse(st.since) >= stopAt + LIMIT, 'sync-status.json says since when');
  t.equal(await ssn(p), '', "the primary's synchronous_standby_names is ''");
  const n0 = w.acked.length;
  await waitFor('writes go on while degraded', async () => w.acked.length > n0 + 20, 30000, 100);
  t.pass(`writes acknowledged while degraded (${w.acked.length - n0} more)`);
  t.equal(events(p, 'fenced').length, 0, 'the primary did not fence (fencing is off in this test)');

  const shown = await statusNow();
  t.comment(shown.split('\n').map((l) => `status| ${l}`).join('\n'));
  t.match(shown, new RegExp(`${p.name} is DEGRADED to asynchronous since ${st.since}`), 'pgswarm status shows the primary degraded, since when');
  t.match(shown, /ASYNC \(degraded\)/, 'pgswarm status shows the degraded synchronous setting');

  // Standbys back: restart their agents on the same data.
  for (const s of standbys) await c.stop(s);
  const backAt = Date.now();
  for (const s of standbys) c.start(s);
  for (const s of standbys) await c.waitRunning(s, 120000);
  await waitFor(`synchronous again on ${all}`, async () => ((await ssn(p)) === all ? true : null), 90000, 300);
  t.pass(`synchronous_standby_names back to ${all}`);
  const after = await waitFor('sync-status.json: not degraded', async () => {
    const s = syncStatus(p);
    return s && !s.degraded && s.names === all ? s : null;
  }, 30000, 300);
  t.equal(after.rule, 'degrade-sync', 'sync-status.json: rule degrade-sync, not degraded');
  const q = await c.query<{ n: string }>(p, "SELECT count(*) AS n FROM pg_stat_replication WHERE sync_state = 'quorum'");
  t.equal(Number(q[0].n), 2, 'both standbys are quorum-synchronous again');
  const syncAgainAt = Date.now();
  await waitFor('writes acknowledged after the standbys returned', async () => w.firstAckAfter(syncAgainAt), 60000, 100);
  t.comment(`standbys restarted -> synchronous on both again: ${syncAgainAt - backAt} ms`);
  await sleep(1000);
  const recovered = await statusNow();
  t.notMatch(recovered, /is DEGRADED|YES since/, 'pgswarm status no longer shows the primary degraded');
  t.match(recovered, new RegExp(`${p.name}\\s+degrade\\s+${all.replace(/[()]/g, '\\$&')}\\s+no\\s+no`), `pgswarm status: ${p.name} synchronous on ${all}, not degraded, not fenced`);
  await w.stop();
  t.ok(w.acked.length > 60, `${w.acked.length} acknowledged writes in all`);
  await checkNothingLost(t, w, 'degrade');
});

t.test('degrade, both standby NODES killed: the proxy pauses (no majority of data members names the primary); a direct client is acknowledged after the limit', async (t) => {
  const p = byName(await routed());
  const standbys = c.nodes.filter((n) => n !== p);
  const all = `ANY 1 (${standbys.map((s) => `"${s.name}"`).sort().join(', ')})`;
  await waitFor('synchronous on both standbys', async () => ((await ssn(p)) === all ? true : null), 60000, 300);
  const killAt = Date.now();
  await Promise.all(standbys.map((s) => c.kill(s)));
  const direct = c.client(p, { user: 'app', password: 'app-password' });
  await direct.connect();
  let ackedAt: number | null = null;
  const ins = direct.query('INSERT INTO acks (id) VALUES ($1)', [8000001]).then(() => (ackedAt = Date.now()));
  await waitFor('the proxy stops routing (paused)', async () => ((await c.routedTo()) === null ? true : null), 30000, 200);
  t.pass('with both standby nodes dead the proxy routes nowhere, in degrade mode too');
  await waitFor('the direct write is acknowledged once degraded', async () => ackedAt, LIMIT + 60000, 100);
  await ins;
  await direct.end();
  t.ok(ackedAt! - killAt >= LIMIT, `direct write acknowledged ${ackedAt! - killAt} ms after the kill (limit ${LIMIT} ms), asynchronously`);
  t.equal(await c.routedTo(), null, 'the proxy still routes nowhere: through it, nothing is acknowledged');
  for (const s of standbys) c.start(s);
  for (const s of standbys) await c.waitRunning(s, 120000);
  await waitFor('synchronous again', async () => ((await ssn(p)) === all ? true : null), 90000, 300);
  t.equal(await routed(), p.name, 'the proxy routes to the primary again');
  for (const s of standbys) {
    const r = await waitFor(`${s.name} has the direct write`, async () => {
      const x = await c.query<{ n: string }>(s, 'SELECT count(*) AS n FROM acks WHERE id = 8000001');
      return Number(x[0].n) === 1 ? 1 : null;
    }, 30000, 300);
    t.equal(r, 1, `${s.name} received the write acknowledged while degraded (the primary survived)`);
  }
});

t.test('strict contrast, same data: both standbys down -> a write is not acknowledged (no degrade), acknowledged once one returns', async (t) => {
  for (const n of c.nodes) await c.stop(n);
  for (const n of c.nodes) c.start(n, strictEnv(n));
  for (const n of c.nodes) await c.waitRunning(n, 180000);
  const p = byName(await routed());
  const standbys = c.nodes.filter((n) => n !== p);
  const all = `ANY 1 (${standbys.map((s) => `"${s.name}"`).sort().join(', ')})`;
  await waitFor('strict, both standbys quorum-synchronous', async () => {
    const r = await c.query<{ n: string }>(p, "SELECT count(*) AS n FROM pg_stat_replication WHERE sync_state = 'quorum'");
    return Number(r[0].n) === 2 && (await ssn(p)) === all ? true : null;
  }, 90000, 300);
  await Promise.all(standbys.map((s) => stopPostgres(s)));
  const stoppedAt = Date.now();
  const cl = patientClient();
  await cl.connect();
  let ackedAt: number | null = null;
  let failed: string | null = null;
  const ins = cl.query('INSERT INTO acks (id) VALUES ($1)', [9000001]).then(() => (ackedAt = Date.now()), (e: Error) => (failed = e.message));
  await sleep(LIMIT + 3000);
  t.equal(ackedAt, null, `strict: no acknowledgement within ${LIMIT + 3000} ms (longer than the degrade limit) with both standbys down`);
  t.equal(failed, null, 'the write is still waiting, not failed');
  t.equal(syncStatus(p)?.rule, 'strict-waiting', 'sync-status.json: strict-waiting');
  t.equal(syncStatus(p)?.degraded, false, 'sync-status.json: not degraded');
  t.equal(await ssn(p), all, `strict keeps ${all}`);
  const s0 = standbys[0];
  await c.stop(s0);
  c.start(s0, strictEnv(s0));
  await waitFor('the waiting write is acknowledged once a standby streams', async () => ackedAt, 120000, 100);
  t.ok(ackedAt! - stoppedAt > LIMIT, `acknowledged ${ackedAt! - stoppedAt} ms after the stop, once ${s0.name} streamed again`);
  await ins;
  await cl.end();
  const r = await c.query<{ n: string }>(s0, 'SELECT count(*) AS n FROM acks WHERE id = 9000001');
  t.equal(Number(r[0].n), 1, `the acknowledged write is on ${s0.name}`);
});

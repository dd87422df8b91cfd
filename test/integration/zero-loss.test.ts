import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { waitFor, sleep } from '../helpers/pg-tools';
import { AckWriter } from '../helpers/writer';
import { zeroLossSuite } from '../helpers/zero-loss-suite';
import { partitionScenarios } from '../helpers/zero-loss-scenarios';

// Strict zero-loss mode (ports 15800-15849): cold start, (a) primary killed, (b) synchronous standby lost,
// then (c) primary partitioned (frozen) and (d) primary cut off from the majority (helpers/zero-loss-scenarios.ts).
const suite = zeroLossSuite('zl', 15800);
const { c, proxyClient, byName, routed, events, checkNothingLost } = suite;

t.test('(a) SIGKILL of the primary in strict mode: 0 acknowledged writes lost, no two primaries', async (t) => {
  const w = new AckWriter(proxyClient, 'acks', 50, 1);
  w.start();
  await waitFor('writes flowing', async () => w.acked.length > 20, 30000);
  const old = byName(await routed());
  const killedAt = Date.now();
  await c.kill(old);
  const np = await waitFor('proxy routes to a new primary', async () => {
    const r = await c.routedTo();
    return r && r !== old.name ? r : null;
  }, 60000, 100);
  await waitFor('a write acknowledged after the kill', async () => w.firstAckAfter(killedAt + 1), 60000, 100);
  const rto = w.firstAckAfter(killedAt + 1)! - killedAt;
  t.comment(`strict: kill -9 of ${old.name} -> first acknowledged write through the proxy on ${np}: ${rto} ms`);
  const guard = events(byName(np), 'promotion-guard');
  t.ok(guard.some((e) => e.allow === true), `${np}'s promotion passed the promotion guard (${String(guard.map((e) => e.msg).join(' | ')).slice(0, 300)})`);
  const sibling = c.nodes.find((n) => n !== old && n.name !== np)!;
  const ff = events(sibling, 'fast-followed');
  t.comment(`${sibling.name} fast-follow: ${ff.length ? `${String(ff[0].ms)} ms` : 'repmgrd followed first'}`);
  c.start(old);
  await c.waitRunning(old, 120000);
  await waitFor(`${old.name} back as a standby`, async () => (await c.inRecovery(old)) === true, 60000);
  await sleep(500);
  await w.stop();
  t.ok(w.acked.length > 40, `${w.acked.length} acknowledged writes`);
  await checkNothingLost(t, w, '(a)');
});

t.test('(b) strict: a standby killed, then the last synchronous one stalled: writes wait, resume when a standby returns, 0 lost', async (t) => {
  const p = byName(await routed());
  const [s1, s2] = c.nodes.filter((n) => n !== p);
  await waitFor('both standbys stream', async () => {
    const r = await c.query(p, "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'");
    return r.length === 2;
  }, 60000, 300);
  const w = new AckWriter(proxyClient, 'acks', 50, 100000);
  w.start();
  await waitFor('writes flowing', async () => w.acked.length > 10, 30000);
  await c.kill(s1);
  const killedAt = Date.now();
  await waitFor('writes go on with one standby (any 1 of 2)', async () => w.firstAckAfter(killedAt + 200), 15000, 100);
  t.pass(`one standby (${s1.name}) down: writes still acknowledged through ${s2.name}`);
  // Stall the last synchronous standby's WAL receiver: it stays reachable (no failover, no fencing) but confirms nothing.
  const pm = Number(fs.readFileSync(path.join(s2.home, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const recv = Number(execFileSync('pgrep', ['-P', String(pm), '-f', 'walreceiver'], { encoding: 'utf8' }).trim().split('\n')[0]);
  process.kill(recv, 'SIGSTOP');
  const stalledAt = Date.now();
  try {
    await sleep(4000);
    const during = w.acked.filter((a) => a.startedAt > stalledAt + 100);
    t.equal(during.length, 0, 'no write is acknowledged while no standby can confirm it (strict: writes wait)');
    c.start(s1);
    await c.waitRunning(s1, 120000);
    const backAt = Date.now();
    await waitFor('writes acknowledged again once a standby streams', async () => w.firstAckAfter(backAt), 60000, 100);
    t.comment(`strict: writes waited ${Date.now() - stalledAt} ms in all, resumed after ${s1.name} came back`);
  } finally {
    process.kill(recv, 'SIGCONT');
  }
  await w.stop();
  await checkNothingLost(t, w, '(b)');
});

partitionScenarios(suite);

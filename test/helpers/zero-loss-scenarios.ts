import t from 'tap';
import { waitFor, sleep } from './pg-tools';
import { AckWriter } from './writer';
import { zeroLossSuite, signalGroup } from './zero-loss-suite';

/**
 * The partition scenarios of strict zero-loss mode, registered on the root tap test by
 * the integration tier (once, in CI) and by the chaos tier (npm run chaos:loopback, repeated):
 *  (c) the primary's whole node frozen (every process stopped: a partition from everyone, and a
 *      primary that may wake at any moment), failover, then the old primary woken;
 *  (d) the primary loses the majority (both standbys and the proxy frozen) and fences itself.
 */
export function partitionScenarios(s: ReturnType<typeof zeroLossSuite>): void {
  const { c, proxyClient, byName, routed, events, checkNothingLost } = s;

  t.test('(c) the primary frozen (SIGSTOP of its whole node: a partition to everyone): failover, then the old primary fences itself on waking, 0 lost', async (t) => {
    const old = byName(await routed());
    // The freeze comes once every node's repmgrd has run for 10 s. A repmgrd started seconds before the
    // primary froze was seen blocked in a query to it (the frozen server's kernel keeps the TCP
    // connection open), so that standby never held its election: see docs/zero-loss.md (known limits).
    await waitFor('repmgrd settled on every node', async () => c.nodes.every((n) => {
      const last = events(n, 'child-start').filter((e) => e.child === 'repmgrd').pop();
      return !!last && Date.now() - Date.parse(String(last.time)) > 10000;
    }), 60000, 500);
    const w = new AckWriter(proxyClient, 'acks', 50, 200000);
    w.start();
    t.teardown(() => w.stop()); // a failed step must not leave the writer running (the file would never exit)
    await waitFor('writes flowing', async () => w.acked.length > 10, 30000);
    signalGroup(old.proc!.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    let woke = false;
    try {
      const np = await waitFor('proxy routes to a new primary', async () => {
        const r = await c.routedTo();
        return r && r !== old.name ? r : null;
      }, 60000, 100);
      await waitFor('a write acknowledged on the new primary', async () => w.firstAckAfter(frozenAt + 1), 60000, 100);
      t.comment(`strict: ${old.name} frozen -> first acknowledged write on ${np} after ${w.firstAckAfter(frozenAt + 1)! - frozenAt} ms`);
      signalGroup(old.proc!.pid, 'SIGCONT');
      woke = true;
      // A client that still reaches the old primary directly cannot get a write acknowledged: no standby
      // confirms it (the promotion guard detached the sibling). No statement_timeout: a cancelled
      // synchronous-commit wait returns success with a WARNING (PostgreSQL's rule), so the client gives up
      // on its own after 6 s and drops the connection instead.
      const direct = c.client(old);
      let directAck = false;
      const notices: string[] = [];
      direct.on('notice', (n) => notices.push(String(n.message)));
      direct.on('error', () => undefined);
      try {
        await direct.connect();
        const insert = direct.query('INSERT INTO acks (id) VALUES (-42)').then(() => true, () => false);
        directAck = await Promise.race([insert, sleep(6000).then(() => false)]);
      } catch {
        directAck = false;
      } finally {
        (direct as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      }
      if (notices.length) t.comment(`notices from the old primary: ${notices.join(' | ')}`);
      t.equal(directAck, false, 'a write sent straight to the woken old primary is not acknowledged');
      await waitFor(`${old.name} back as a standby`, async () => (await c.inRecovery(old)) === true, 90000, 300);
      const fenced = events(old, 'fenced');
      t.comment(`${old.name} fenced: ${fenced.map((e) => String(e.rule)).join(', ') || 'stopped another way'}`);
      for (let i = 0; i < 5; i++) {
        t.not(await c.routedTo(), old.name, 'the proxy never routes to the old primary');
        await sleep(200);
      }
    } finally {
      if (!woke) signalGroup(old.proc!.pid, 'SIGCONT');
    }
    await w.stop();
    await checkNothingLost(t, w, '(c)');
    const p = byName(await routed());
    const ghost = await c.query(p, 'SELECT 1 FROM acks WHERE id = -42');
    t.equal(ghost.length, 0, 'the unacknowledged direct write did not survive (rewound away)');
  });

  t.test('(d) the primary loses the majority (both standbys and the proxy frozen): it fences itself within the limit, then the cluster recovers, 0 lost', async (t) => {
    const p = byName(await routed());
    const others = c.nodes.filter((n) => n !== p);
    await waitFor('both standbys stream', async () => (await c.query(p, "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'")).length === 2, 90000, 300);
    const w = new AckWriter(proxyClient, 'acks', 50, 300000);
    w.start();
    t.teardown(() => w.stop());
    await waitFor('writes flowing', async () => w.acked.length > 10, 30000);
    const before = events(p, 'fenced').length;
    for (const n of others) signalGroup(n.proc!.pid, 'SIGSTOP');
    signalGroup(c.proxy!.pid, 'SIGSTOP');
    const cutAt = Date.now();
    try {
      const fencedAt = await waitFor(`${p.name} fences itself`, async () => (events(p, 'fenced-stopped').length > before ? Date.now() : null), 30000, 200);
      t.ok(fencedAt - cutAt >= 5000, `not before the 5 s limit (${fencedAt - cutAt} ms)`);
      t.ok(fencedAt - cutAt < 15000, `within the limit plus two probe rounds (${fencedAt - cutAt} ms)`);
      t.equal(await c.inRecovery(p), null, `${p.name}'s PostgreSQL accepts no connection while fenced`);
      t.match(String(events(p, 'fenced').slice(-1)[0].rule), 'majority-lost');
    } finally {
      for (const n of others) signalGroup(n.proc!.pid, 'SIGCONT');
      signalGroup(c.proxy!.pid, 'SIGCONT');
    }
    const back = Date.now();
    await waitFor('writes acknowledged again', async () => w.firstAckAfter(back), 90000, 200);
    t.comment(`after the majority returned: first acknowledged write in ${w.firstAckAfter(back)! - back} ms on ${await c.routedTo()}`);
    for (const n of c.nodes) await waitFor(`${n.name} up`, async () => (await c.inRecovery(n)) !== null, 90000, 300);
    await w.stop();
    await checkNothingLost(t, w, '(d)');
  });
}

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { NodeCluster, TestNode, descendants } from '../helpers/node-cluster';
import { waitFor, sleep } from '../helpers/pg-tools';
import { AckWriter } from '../helpers/writer';
import { checkAcksOnCluster, signalGroup, TT, writeAcksSchema } from '../helpers/zero-loss-suite';

// The 2+1 topology in strict mode (ports 16000-16049): two real pgnode data agents, a real
// witness (pgnode with PGSWARM_ROLE=witness) and a real pgproxy, every acknowledged write recorded.
const c = new NodeCluster('wit', 16000, { dataNodes: 2, witness: true });
c.extraEnv = { PGSWARM_SYNC_MODE: 'strict', PGSWARM_FENCE_AFTER_MS: '5000', PGSWARM_SYNC_INTERVAL_MS: '300' };
const proxyEnv = c.proxyEnv.bind(c);
c.proxyEnv = () => ({ ...proxyEnv(), PGSWARM_SSH_TIMEOUT_MS: '4000' });
const w = c.witness!;
const [n1, n2] = c.nodes;

t.teardown(async () => {
  for (const n of [...c.nodes, w]) freeze(n, 'SIGCONT');
  await c.teardown();
});

const proxyClient = () => c.proxyClient('app', 'app-password', { connectMs: 3000, queryMs: 5000 });
const byName = (name: string | null) => c.nodes.find((n) => n.name === name)!;
const routed = async () => waitFor('the proxy routes to a primary', async () => c.routedTo(), 90000, 100);
const events = (n: TestNode, ev: string) => c.logEvents(n).filter((e) => e.event === ev);
const proxyEvents = (ev: string) => fs.readFileSync(path.join(c.dir, 'p1.log'), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } }).filter((e) => e.event === ev);

async function witnessQuery<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const cl = c.client(w, { database: 'postgres' });
  await cl.connect();
  try {
    return (await cl.query(sql)).rows as T[];
  } finally {
    await cl.end();
  }
}

async function waitWitnessRunning(timeoutMs = 120000): Promise<void> {
  await waitFor('witness running', async () => {
    if (w.proc && w.proc.exitCode !== null) throw new Error(`witness exited with ${w.proc.exitCode}; log tail: ${c.logTail(w)}`);
    return c.state(w).phase === 'running' && (await witnessQuery('SELECT 1').then(() => true, () => false));
  }, timeoutMs, 300);
}

/**
 * Freezes (SIGSTOP) or wakes (SIGCONT) a node's agent and every process below it. A process-group
 * signal is not enough: PostgreSQL backends and WAL senders call setsid() and would keep serving.
 */
function freeze(n: TestNode, sig: 'SIGSTOP' | 'SIGCONT'): number {
  if (!n.proc?.pid) return 0;
  const all = [n.proc.pid, ...descendants(n.proc.pid)];
  for (const pid of all) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
  signalGroup(n.proc.pid, sig);
  return all.length;
}

/** Every acknowledged id is on the primary and on the standby; windows of different (server, timeline) never overlap. */
const checkNothingLost = (t: TT, wr: AckWriter, label: string) => checkAcksOnCluster(c, t, wr, label, { routedMs: 90000, standbyMs: 60000 });

t.before(async () => {
  await c.setup();
  writeAcksSchema(c);
});

t.test('2+1 cold start in strict mode: the witness registers with repmgr, holds no data, and the proxy counts its vote', async (t) => {
  c.startProxy();
  for (const n of [n1, n2, w]) c.start(n);
  for (const n of c.nodes) await c.waitRunning(n, 180000);
  await waitWitnessRunning(180000);
  t.equal(await waitFor('proxy routes to n1', async () => ((await c.routedTo()) === 'n1' ? 'n1' : null), 90000), 'n1');
  const reg = await waitFor('witness registered in repmgr', async () => {
    const r = await c.query<{ type: string; upstream: string | null }>(n1, "SELECT n.type, u.node_name AS upstream FROM repmgr.nodes n LEFT JOIN repmgr.nodes u ON u.node_id = n.upstream_node_id WHERE n.node_name = 'w1'", [], 'repmgr');
    return r[0] ?? null;
  }, 60000, 500);
  t.equal(reg.type, 'witness', 'repmgr knows w1 as a witness');
  t.equal(reg.upstream, 'n1', 'registered against the primary');
  const dbs = (await witnessQuery<{ datname: string }>('SELECT datname FROM pg_database')).map((r) => r.datname);
  t.notOk(dbs.includes('app'), `the witness holds no application data (databases: ${dbs.join(', ')})`);
  t.equal((await witnessQuery<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0].r, false, 'the witness is a separate server, not a standby');
  const plain = new Client({ host: w.host, port: w.port, user: 'postgres', password: c.passwords.postgres, database: 'postgres', connectionTimeoutMillis: 3000, ssl: false });
  plain.on('error', () => undefined);
  const refused = await plain.connect().then(() => 'connected', (e: Error) => e.message);
  await plain.end().catch(() => undefined);
  t.match(refused, /pg_hba|no encryption|SSL/i, `the witness refuses plaintext connections (${refused})`);
  const ssn = await waitFor('n1 waits for n2', async () => {
    const r = await c.query<{ ssn: string; n: string }>(n1, "SELECT current_setting('synchronous_standby_names') AS ssn, (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')::text AS n");
    return r[0].n === '1' && r[0].ssn.includes('n2') ? r[0].ssn : null;
  }, 60000, 300);
  t.equal(ssn, 'ANY 1 ("n2")', 'strict: the primary waits for its one standby');
  const rows = await waitFor('witness host key in the registry', async () => {
    const r = await c.query<{ kind: string }>(n1, "SELECT kind FROM pgswarm.registry WHERE name = 'w1'", [], 'postgres');
    return r.length ? r : null;
  }, 30000, 500);
  t.same(rows.map((r) => r.kind), ['node-host'], 'the witness publishes its signed host key only (no client key: it runs nothing on the nodes)');
  const answers = await waitFor('the proxy got an answer from the witness', async () => {
    const a = proxyEvents('node-answer').filter((e) => e.node === 'w1' && e.kind === 'ok' && e.role === 'witness');
    return a.length ? a : null;
  }, 60000, 500);
  t.equal(answers[answers.length - 1].primary, 'n1', 'the witness answers over SSH (forced command, verified host key) as role=witness naming n1');
  const votes = proxyEvents('vote').filter((e) => e.primary === 'n1');
  t.match(String(votes[votes.length - 1]?.reason), /3 voters|\/3/, 'the proxy votes over 3 voters (2 data + witness)');
  t.ok(fs.readFileSync(path.join(w.home, 'ssh', 'answer_keys'), 'utf8').includes('command="'), 'the proxy key on the witness is restricted to the forced command');
  t.equal(proxyEvents('witness-mismatch').length, 0, 'the proxy and every node agree on the witness');
});

t.test('(b) witness killed: no failover, no fencing, writes continue; 0 lost', async (t) => {
  const wr = new AckWriter(proxyClient, 'acks', 50, 1);
  wr.start();
  await waitFor('writes flowing', async () => wr.acked.length > 10, 30000);
  await c.kill(w);
  const killedAt = Date.now();
  // Longer than PGSWARM_FENCE_AFTER_MS (5 s) plus probe rounds: had the witness's loss cost the majority, n1 would fence.
  await sleep(9000);
  const late = wr.acked.filter((a) => a.startedAt > killedAt + 6000).length;
  t.ok(late > 10, `writes still acknowledged 6-9 s after the witness died (${late})`);
  t.equal(await c.routedTo(), 'n1', 'the proxy still routes to n1 (n1 + n2 are 2 of 3 voters)');
  t.equal(await c.inRecovery(n1), false, 'n1 is still the primary');
  t.equal(await c.inRecovery(n2), true, 'n2 was not promoted');
  t.equal(events(n1, 'fenced').length, 0, 'n1 did not fence (it reaches n2 and the proxy: 3 of 4 voters)');
  c.start(w);
  await waitWitnessRunning();
  await wr.stop();
  await checkNothingLost(t, wr, '(b)');
});

t.test('(a) SIGKILL of the primary: the standby is promoted with the witness\'s vote, writes resume through the proxy, 0 lost', async (t) => {
  const wr = new AckWriter(proxyClient, 'acks', 50, 100000);
  wr.start();
  await waitFor('writes flowing', async () => wr.acked.length > 20, 30000);
  const old = byName(await routed());
  const other = c.nodes.find((n) => n !== old)!;
  const killedAt = Date.now();
  await c.kill(old);
  const np = await waitFor('proxy routes to the new primary', async () => {
    const r = await c.routedTo();
    return r && r !== old.name ? r : null;
  }, 90000, 100);
  const routedAt = Date.now();
  t.equal(np, other.name, `the proxy routes to ${other.name} (it + the witness are 2 of 3)`);
  const guard = events(other, 'promotion-guard');
  t.ok(guard.some((e) => e.allow === true), `${other.name}'s promotion passed the guard (${String(guard.map((e) => e.msg).join(' | ')).slice(0, 300)})`);
  // Strict 2+1: the new primary waits for a standby; the old primary comes back (as Swarm restarts it) and rejoins.
  c.start(old);
  await c.waitRunning(old, 180000);
  await waitFor(`${old.name} back as a standby`, async () => (await c.inRecovery(old)) === true, 90000);
  const ack = await waitFor('a write acknowledged after the kill', async () => wr.firstAckAfter(killedAt + 1), 90000, 100);
  t.comment(`(a) kill -9 of ${old.name}: proxy routed to ${np} after ${routedAt - killedAt} ms; first acknowledged write ${ack - killedAt} ms after the kill (strict 2+1: writes wait until ${old.name} streams again)`);
  await sleep(1000);
  await wr.stop();
  t.ok(wr.acked.length > 40, `${wr.acked.length} acknowledged writes`);
  await checkNothingLost(t, wr, '(a)');
});

t.test('(c) primary frozen (SIGSTOP): failover with the witness\'s vote; the old primary fences itself when it wakes; 0 lost', async (t) => {
  const wr = new AckWriter(proxyClient, 'acks', 50, 200000);
  wr.start();
  await waitFor('writes flowing', async () => wr.acked.length > 20, 30000);
  const old = byName(await routed());
  const other = c.nodes.find((n) => n !== old)!;
  const frozenAt = Date.now();
  const count = freeze(old, 'SIGSTOP');
  t.ok(count > 5, `${old.name} frozen: its agent and ${count - 1} processes below it, backends included`);
  let woke = false;
  try {
    const np = await waitFor('proxy routes to the other node', async () => {
      const r = await c.routedTo();
      return r && r !== old.name ? r : null;
    }, 90000, 100);
    t.equal(np, other.name, `${other.name} promoted and routed to while ${old.name} is frozen (${Date.now() - frozenAt} ms)`);
    const during = wr.acked.filter((a) => a.startedAt > frozenAt + 100 && a.at < Date.now()).length;
    t.comment(`(c) writes acknowledged while ${old.name} was frozen: ${during} (strict 2+1: the new primary waits for its standby)`);
    freeze(old, 'SIGCONT');
    woke = true;
    const fenced = await waitFor(`${old.name} fences itself`, async () => {
      const f = events(old, 'fenced');
      return f.length ? f : null;
    }, 60000, 300);
    t.equal(fenced[0].rule, 'newer-primary', `${old.name} fenced on waking: a newer primary exists`);
    await waitFor(`${old.name} back as a standby`, async () => (await c.inRecovery(old)) === true, 120000, 500);
    await waitFor('a write acknowledged after the freeze', async () => wr.firstAckAfter(frozenAt + 1), 90000, 100);
    t.comment(`(c) first acknowledged write ${wr.firstAckAfter(frozenAt + 1)! - frozenAt} ms after freezing ${old.name}`);
  } finally {
    if (!woke) freeze(old, 'SIGCONT');
  }
  await sleep(1000);
  await wr.stop();
  await checkNothingLost(t, wr, '(c)');
});

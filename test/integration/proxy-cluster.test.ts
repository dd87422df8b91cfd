import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { NodeCluster } from '../helpers/node-cluster';
import { waitFor } from '../helpers/pg-tools';
import { AckWriter } from '../helpers/writer';
import { spawnSync } from 'node:child_process';

const SWITCHOVER = path.resolve(__dirname, '..', '..', 'src', 'bin', 'pgswarm-switchover.js');

// Three real pgnode agents and one real pgproxy (agent + PgBouncer), wired as in the stack:
// the nodes ask the proxy who is primary; the proxy asks the nodes over SSH (enrolled key).
const c = new NodeCluster('pxc', 15450);
const [n1] = c.nodes;
t.teardown(() => c.teardown());

t.before(async () => {
  await c.setup();
  fs.mkdirSync(path.join(c.dir, 'initdb.d'));
  fs.writeFileSync(path.join(c.dir, 'initdb.d', '01-app.sql'),
    "CREATE ROLE app LOGIN PASSWORD 'app-password';\nCREATE TABLE acks (id bigint PRIMARY KEY, at timestamptz DEFAULT now());\nGRANT INSERT, SELECT ON acks TO app;\n");
});

t.test('cold start from nothing: the proxy enrolls, finds the primary, a client writes through it', async (t) => {
  c.startProxy();
  for (const n of c.nodes) c.start(n);
  for (const n of c.nodes) await c.waitRunning(n, 180000);
  const routed = await waitFor('proxy routes to n1', async () => ((await c.routedTo()) === 'n1' ? 'n1' : null), 60000);
  t.equal(routed, 'n1');
  const cl = c.proxyClient();
  await cl.connect();
  await cl.query('INSERT INTO acks (id) VALUES (0)');
  const r = await cl.query('SELECT count(*)::int AS n FROM acks');
  await cl.end();
  t.equal(r.rows[0].n, 1, 'written through the proxy');
  const log = fs.readFileSync(path.join(c.dir, 'p1.log'), 'utf8');
  t.match(log, /"event":"enrolled"/, 'the proxy enrolled its key with the join token');
  t.match(log, /"event":"tls-certificate"[^\n]*"issuedBy":"node"/, 'its client-facing certificate was issued by a node from its CSR (the proxy has no CA key)');
  t.notOk(JSON.stringify(c.proxyEnv()).includes('CA_KEY'), 'no CA key in the proxy\'s environment');
});

t.test('a superuser cannot log in through the proxy', async (t) => {
  const su = c.proxyClient('postgres', c.passwords.postgres);
  await t.rejects(su.connect(), /./, 'superuser cannot log in through the proxy');
});

t.test('primary killed: writes resume through the same proxy address; the old primary rejoins and is never routed to', async (t) => {
  const w = new AckWriter(() => c.proxyClient(), 'acks', 50);
  w.start();
  await waitFor('writes flowing', async () => w.acked.length > 10, 20000);
  const killedAt = Date.now();
  await c.kill(n1);
  const newPrimary = await waitFor('proxy routes to a new primary', async () => {
    const r = await c.routedTo();
    return r && r !== 'n1' ? r : null;
  }, 60000, 100);
  await waitFor('a write acknowledged after the kill', async () => w.firstAckAfter(killedAt + 1), 60000, 100);
  const rto = w.firstAckAfter(killedAt + 1)! - killedAt;
  t.comment(`kill -9 of the primary -> first acknowledged write through the proxy on ${newPrimary}: ${rto} ms`);
  c.start(n1);
  await c.waitRunning(n1, 120000);
  t.equal(await c.inRecovery(n1), true, 'old primary came back as a standby');
  for (let i = 0; i < 10; i++) {
    t.not(await c.routedTo(), 'n1', 'never routed to the old primary');
    await new Promise((r) => setTimeout(r, 200));
  }
  await w.stop();
  const np = c.nodes.find((n) => n.name === newPrimary)!;
  const ids = new Set((await c.query<{ id: string }>(np, 'SELECT id FROM acks')).map((r) => Number(r.id)));
  const lost = w.acked.filter((a) => !ids.has(a.id));
  t.comment(`${w.acked.length} acknowledged writes, ${w.errors.length} failed attempts, ${lost.length} acknowledged writes missing (asynchronous replication)`);
  t.ok(w.acked.length > 20);
  const afterFailover = w.acked.filter((a) => a.at > killedAt + rto);
  t.ok(afterFailover.every((a) => ids.has(a.id)), 'every write acknowledged after the failover is on the new primary');
});

t.test('planned switchover: the proxy pauses, switches, resumes: zero client errors, nothing lost', async (t) => {
  const from = (await c.routedTo())!;
  const target = c.nodes.find((n) => n.name !== from)!;
  const w = new AckWriter(() => c.proxyClient(), 'acks', 50, 1_000_000);
  w.start();
  await waitFor('writes flowing', async () => w.acked.length > 10, 20000);
  const r = spawnSync(process.execPath, [SWITCHOVER], { env: c.env(target), encoding: 'utf8', timeout: 180000 });
  t.equal(r.status, 0, (r.stdout + r.stderr).slice(-1500));
  await waitFor(`proxy routes to ${target.name}`, async () => (await c.routedTo()) === target.name, 30000);
  const at = Date.now();
  await waitFor('writes acknowledged after the switchover', async () => w.firstAckAfter(at), 30000);
  await w.stop();
  t.equal(w.errors.length, 0, `no client error (${w.errors.map((e) => e.message).slice(0, 3).join('; ')})`);
  const ids = new Set((await c.query<{ id: string }>(target, 'SELECT id FROM acks')).map((x) => Number(x.id)));
  t.equal(w.acked.filter((a) => !ids.has(a.id)).length, 0, 'every acknowledged write is on the new primary');
  const old = c.nodes.find((n) => n.name === from)!;
  await waitFor(`${from} back as a standby`, async () => (await c.inRecovery(old)) === true, 60000);
  t.comment(`switchover output: ${r.stdout.trim()}`);
});

t.test('proxy restart: comes back with its enrolled key and serves again', async (t) => {
  t.equal(await c.stopProxy(), 0, 'clean exit');
  c.startProxy();
  await waitFor('proxy routes again', async () => c.routedTo(), 60000);
  const cl = c.proxyClient();
  await cl.connect();
  await cl.query('INSERT INTO acks (id) VALUES (-1)');
  await cl.end();
  const routed = await c.routedTo();
  const primary = c.nodes.find((n) => n.name === routed)!;
  const keys = await c.query<{ n: number }>(primary, "SELECT count(*)::int AS n FROM pgswarm.registry WHERE kind = 'proxy'", [], 'postgres');
  t.equal(keys[0].n, 1, 'still one proxy key: the same key was reused');
});

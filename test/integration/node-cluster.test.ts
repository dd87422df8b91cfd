import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { NodeCluster, PGNODE } from '../helpers/node-cluster';
import { waitFor, pgBin, postgresIds, sleep } from '../helpers/pg-tools';
import { ensureKeyPair } from '../../src/adapters/ssh-keys';
import { createToken } from '../../src/core/join-token';
import { PgRegistryStore } from '../../src/adapters/registry-store';
import { parseKnownHosts } from '../../src/core/host-verifier';
import { sshExec } from '../../src/adapters/ssh-exec';
import { parseCurrentPrimary } from '../../src/core/current-primary';
import { Client } from 'pg';

const c = new NodeCluster('nodes', 15400);
const [n1, n2, n3] = c.nodes;
t.teardown(() => c.teardown());

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      h.update(p);
      if (e.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

t.before(async () => {
  await c.setup();
  fs.mkdirSync(path.join(c.dir, 'initdb.d'));
  fs.writeFileSync(path.join(c.dir, 'initdb.d', '01-schema.sql'), 'CREATE TABLE items (id bigint PRIMARY KEY, note text);\n');
  await c.startBouncer();
});

t.test('three nodes bootstrap themselves: one primary, two TLS standbys', async (t) => {
  for (const n of c.nodes) c.start(n);
  await c.waitRunning(n1, 120000);
  // The stand-in proxy learns the primary (the pgproxy agent does this for real).
  await c.repoint(n1);
  await c.waitRunning(n2, 180000);
  await c.waitRunning(n3, 180000);
  t.equal(await c.inRecovery(n1), false, 'n1 is the primary');
  t.equal(await c.inRecovery(n2), true, 'n2 is a standby');
  t.equal(await c.inRecovery(n3), true, 'n3 is a standby');
  t.equal(c.state(n1).decision?.action, 'init-primary');
  t.match(c.state(n2).decision?.action, /clone-standby|start-standby/);
  const repl = await waitFor('both standbys streaming', async () => {
    const r = await c.query<{ application_name: string; state: string; ssl: boolean }>(n1,
      `SELECT r.application_name, r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid`);
    return r.filter((x) => x.state === 'streaming').length === 2 ? r : null;
  }, 60000);
  t.same(repl.map((r) => r.application_name).sort(), ['n2', 'n3']);
  t.ok(repl.every((r) => r.ssl), 'replication connections use TLS');
  const conf = fs.readFileSync(path.join(n2.home, 'data', 'postgresql.auto.conf'), 'utf8');
  t.match(conf, /sslmode='*verify-full/, 'primary_conninfo verifies the server certificate');
  t.notOk(fs.existsSync(path.join(n1.home, 'data', 'pg_hba.conf')), 'no pg_hba.conf inside PGDATA');
  t.match(fs.readFileSync(path.join(n1.home, 'conf', 'pg_hba.conf'), 'utf8'), /hostssl/);
});

t.test('rows written on the primary appear on both standbys', async (t) => {
  await c.query(n1, 'INSERT INTO items SELECT g, $1 FROM generate_series(1, 100) g', ['first']);
  for (const s of [n2, n3]) {
    const got = await waitFor(`rows on ${s.name}`, async () => {
      const r = await c.query<{ n: string }>(s, 'SELECT count(*) AS n FROM items');
      return Number(r[0].n) === 100 ? r : null;
    }, 20000);
    t.ok(got, `${s.name} has the 100 rows`);
  }
});

t.test('each node publishes its signed public keys; authorized_keys and known_hosts come from them', async (t) => {
  const rows = await waitFor('6 registry rows', async () => {
    const r = await c.query<{ kind: string; name: string }>(n1, 'SELECT kind, name FROM pgswarm.registry ORDER BY kind, name', [], 'postgres');
    return r.length === 6 ? r : null;
  }, 30000);
  t.same(rows.map((r) => `${r.kind}:${r.name}`), ['node-client:n1', 'node-client:n2', 'node-client:n3', 'node-host:n1', 'node-host:n2', 'node-host:n3']);
  for (const n of c.nodes) {
    const dir = path.join(n.home, 'ssh');
    const ak = await waitFor(`${n.name} authorized_keys`, async () => {
      const text = fs.readFileSync(path.join(dir, 'authorized_keys'), 'utf8');
      return text.split('\n').filter((l) => l.startsWith('restrict')).length === 3 ? text : null;
    }, 20000);
    t.ok(ak.split('\n').filter((l) => l && !l.startsWith('#')).every((l) => l.startsWith('restrict')), `${n.name}: every key restricted`);
    const st = fs.statSync(path.join(dir, 'authorized_keys'));
    t.equal(st.uid, 0, 'authorized_keys owned by root');
    t.equal(st.mode & 0o022, 0, 'not group/world writable');
    t.equal(fs.statSync(dir).uid, 0, 'ssh dir owned by root, so postgres cannot swap the file');
    const kh = await waitFor(`${n.name} known_hosts`, async () => {
      const e = parseKnownHosts(fs.readFileSync(path.join(dir, 'known_hosts'), 'utf8'));
      return c.nodes.every((m) => e.some((x) => x.patterns.some((p) => p.includes(m.host)))) ? e : null;
    }, 20000);
    t.ok(kh.length >= 3, `${n.name}: known_hosts holds every node's host key`);
  }
});

t.test("repmgr's own SSH between nodes works with strict host-key checking", async (t) => {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', path.join(pgBin(), 'repmgr'), '-f', path.join(n2.home, 'conf', 'repmgr.conf'),
    'standby', 'switchover', '--dry-run', `--remote-config-file=${path.join(n1.home, 'conf', 'repmgr.conf')}`], { encoding: 'utf8', timeout: 60000 });
  t.match(r.stdout + r.stderr, /SSH connection to host "127\.0\.0\.1" succeeded/, 'repmgr reached the primary over SSH');
  t.notMatch(r.stdout + r.stderr, /Host key verification failed/);
  t.equal(r.status, 0, (r.stdout + r.stderr).slice(-600));
});

t.test('a proxy key enrolled with a join token runs the real current-primary over SSH', async (t) => {
  const kp = await ensureKeyPair(path.join(c.dir, 'proxy', 'id_ed25519'));
  const token = createToken({ kind: 'proxy', name: 'proxy1', ttlSeconds: 600 }, c.signing.secretKey, Date.now());
  const db = new Client({ host: n1.host, port: n1.port, user: 'pgswarm_enroll', password: c.passwords.enroll, database: 'postgres', ssl: { ca: fs.readFileSync(c.ca.cert, 'utf8'), rejectUnauthorized: true } });
  await db.connect();
  const id = await PgRegistryStore.enroll(db, token, kp.publicKeyLine);
  const st = await waitFor('enrollment accepted', async () => {
    const s = await PgRegistryStore.enrollmentStatus(db, id, kp.publicKeyLine);
    return s && s.status !== 'pending' ? s : null;
  }, 20000);
  await db.end();
  t.equal(st.status, 'accepted', st.reason ?? '');
  await waitFor('proxy key in n2 answer_keys', async () => fs.readFileSync(path.join(n2.home, 'ssh', 'answer_keys'), 'utf8').includes(kp.publicKeyLine.split(' ')[1]), 20000);
  const line = fs.readFileSync(path.join(n2.home, 'ssh', 'answer_keys'), 'utf8').split('\n').find((l) => l.includes(kp.publicKeyLine.split(' ')[1]))!;
  t.match(line, /^restrict,command="[^"]*current-primary[^"]*" ssh-ed25519 /, 'proxy key forced to current-primary');
  t.notMatch(fs.readFileSync(path.join(n2.home, 'ssh', 'authorized_keys'), 'utf8'), kp.publicKeyLine.split(' ')[1], 'the proxy key is not a key of the postgres account');
  const knownHosts = parseKnownHosts(fs.readFileSync(path.join(n2.home, 'ssh', 'known_hosts'), 'utf8'));
  const asPg = await sshExec({ host: n2.host, port: n2.sshPort, user: 'postgres', privateKey: fs.readFileSync(kp.privateKeyPath), knownHosts }, 'id').catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  t.not(asPg.code, 0, `the proxy key cannot log in as postgres (${asPg.stderr.slice(0, 120)})`);
  const r = await sshExec({ host: n2.host, port: n2.sshPort, user: 'pgswarm-answer', privateKey: fs.readFileSync(kp.privateKeyPath), knownHosts }, 'cat /etc/shadow');
  const ans = parseCurrentPrimary(r.stdout);
  t.ok(ans, `a well-formed answer: ${r.stdout} ${r.stderr}`);
  t.equal(ans!.primary, 'n1');
  t.equal(ans!.node, 'n2');
  t.equal(ans!.role, 'standby');
  t.equal(r.code, 0);
  t.notMatch(r.stdout, /root:/, 'the requested command did not run');
});

t.test('a plaintext connection and a wrong password are refused', async (t) => {
  const plain = c.client(n1, { ssl: false });
  await t.rejects(plain.connect(), /no pg_hba.conf entry|no encryption/i, 'non-TLS refused');
  const wrong = c.client(n1, { password: 'not-the-password' });
  await t.rejects(wrong.connect(), /password authentication failed/, 'wrong password refused');
  const repl = c.client(n2, { user: 'repmgr', password: 'nope', database: 'repmgr' });
  await t.rejects(repl.connect(), /password authentication failed/, 'wrong repmgr password refused on a standby too');
});

t.test('a restarted standby comes back as a standby', async (t) => {
  t.equal(await c.stop(n3), 0, 'clean exit on SIGTERM');
  c.start(n3);
  await c.waitRunning(n3, 60000);
  t.equal(c.state(n3).decision?.action, 'start-standby');
  t.equal(await c.inRecovery(n3), true);
  await c.query(n1, "INSERT INTO items VALUES (101, 'after standby restart')");
  await waitFor('row 101 on n3', async () => (await c.query(n3, 'SELECT 1 FROM items WHERE id = 101')).length === 1, 20000);
});

t.test('primary killed: repmgrd promotes a standby; the old primary rejoins by pg_rewind', async (t) => {
  // a write that only the old primary will have once its standbys are cut off is not possible here
  // (async replication), so the rewind is exercised by the crashed, forked timeline itself.
  const killedAt = Date.now();
  await c.kill(n1);
  const promoted = await waitFor('a standby promoted', async () => {
    for (const s of [n2, n3]) if ((await c.inRecovery(s)) === false) return s;
    return null;
  }, 60000, 100);
  const promotionMs = Date.now() - killedAt;
  t.comment(`kill -9 of the primary's agent and postgres -> ${promoted.name} promoted in ${promotionMs} ms`);
  const other = promoted === n2 ? n3 : n2;
  const logged = await waitFor('promotion logged', async () => c.logEvents(promoted).find((e) => e.event === 'promoted' && e.ok === true), 20000);
  t.match(logged.reason, /repmgrd lost the primary/, 'the promotion is logged with its reason');
  await c.repoint(promoted);
  await c.query(promoted, "INSERT INTO items VALUES (200, 'on the new primary')");
  await waitFor(`${other.name} follows ${promoted.name}`, async () => (await c.query(other, 'SELECT 1 FROM items WHERE id = 200')).length === 1, 60000);
  // the old primary comes back
  c.start(n1);
  await c.waitRunning(n1, 120000);
  t.equal(c.state(n1).decision?.action, 'rejoin', c.state(n1).decision?.reason ?? '');
  t.equal(await c.inRecovery(n1), true, 'old primary is now a standby');
  await c.query(promoted, "INSERT INTO items VALUES (201, 'after rejoin')");
  await waitFor('row 201 on the rejoined node', async () => (await c.query(n1, 'SELECT 1 FROM items WHERE id = 201')).length === 1, 30000);
  const rows = await c.query<{ n: string }>(n1, 'SELECT count(*) AS n FROM items');
  t.equal(Number(rows[0].n), 103, 'every row, once');
});

t.test('a rejoin interrupted half-way: the data is moved aside (kept) and a fresh standby is cloned', async (t) => {
  // Simulated: the node stops with the marker its rejoin leaves while pg_rewind may be rewriting PGDATA.
  const primary = await c.waitPrimary([n1, n2, n3]);
  const victim = [n1, n2, n3].find((s) => s !== primary)!;
  t.equal(await c.stop(victim), 0, `${victim.name} stopped`);
  fs.writeFileSync(path.join(victim.home, 'setup-in-progress'), 'rejoin');
  c.start(victim);
  await c.waitRunning(victim, 120000);
  const d = c.state(victim).decision;
  t.equal(d?.action, 'reclone', d?.reason ?? '');
  t.match(d?.reason ?? '', /moving PGDATA aside/);
  const kept = fs.readdirSync(victim.home).filter((f) => f.startsWith('data.interrupted-rejoin-'));
  t.equal(kept.length, 1, `the half-rewound data is kept (${kept.join(', ')})`);
  t.ok(fs.existsSync(path.join(victim.home, kept[0], 'PG_VERSION')), 'the kept copy is a whole data directory');
  t.notOk(fs.existsSync(path.join(victim.home, 'setup-in-progress')), 'the marker is gone after the clone');
  t.equal(await c.inRecovery(victim), true, `${victim.name} is a standby again`);
  await c.query(primary, "INSERT INTO items VALUES (300, 'after the re-clone')");
  await waitFor('row 300 on the re-cloned node', async () => (await c.query(victim, 'SELECT 1 FROM items WHERE id = 300')).length === 1, 30000);
  const rows = await c.query<{ n: string }>(victim, 'SELECT count(*) AS n FROM items');
  t.equal(Number(rows[0].n), 104, 'every row, once');
});

t.test('a standby that crashed on an older control-file timeline is recovered as a standby, rewound, and follows', async (t) => {
  // Seen in the swarm (disk full on a standby that had just followed a new primary): its data stopped
  // "in archive recovery" with a control file still on the old timeline, so the node chose a rejoin,
  // and single-user crash recovery refuses a standby's data ("standby mode is not supported by
  // single-user servers"): every rejoin failed, forever, even after the disk was freed.
  const primary = await c.waitPrimary([n1, n2, n3]);
  const [a, b] = [n1, n2, n3].filter((s) => s !== primary);
  await c.kill(primary);
  const promoted = await c.waitPrimary([a, b], 60000);
  const crashed = promoted === a ? b : a;
  await c.repoint(promoted);
  await c.query(promoted, "INSERT INTO items VALUES (400, 'on the newer timeline')");
  await waitFor(`row 400 on ${crashed.name}`, async () => (await c.query(crashed, 'SELECT 1 FROM items WHERE id = 400')).length === 1, 60000);
  await c.kill(crashed);
  const control = execFileSync(path.join(pgBin(), 'pg_controldata'), ['-D', path.join(crashed.home, 'data')], { encoding: 'utf8', env: { LANG: 'C' } });
  t.match(control, /Database cluster state:\s+in archive recovery/, `${crashed.name}'s standby data did not stop cleanly`);
  const controlTl = Number(/Latest checkpoint's TimeLineID:\s+(\d+)/.exec(control)?.[1]);
  const primaryTl = Number((await c.query<{ tl: number }>(promoted, "SELECT timeline_id AS tl FROM pg_control_checkpoint()"))[0].tl);
  t.ok(controlTl < primaryTl, `its control file is on timeline ${controlTl}, the primary on ${primaryTl} (no restartpoint since it followed)`);
  const seen = c.logEvents(crashed).length;
  c.start(crashed);
  await c.waitRunning(crashed, 120000);
  const d = c.state(crashed).decision;
  t.equal(d?.rule, 'standby-older-timeline', d?.reason ?? '');
  const events = c.logEvents(crashed).slice(seen);
  t.equal(events.find((e) => e.event === 'crash-recovery')?.standby, true, 'recovered by starting it as a standby');
  t.same(events.filter((e) => e.event === 'action-failed').map((e) => e.err), [], 'no failed attempt');
  t.equal(await c.inRecovery(crashed), true, `${crashed.name} is a standby`);
  await c.query(promoted, "INSERT INTO items VALUES (401, 'after the crashed standby came back')");
  await waitFor(`row 401 on ${crashed.name}`, async () => (await c.query(crashed, 'SELECT 1 FROM items WHERE id = 401')).length === 1, 30000);
  c.start(primary);
  await c.waitRunning(primary, 120000);
  t.equal(await c.inRecovery(primary), true, `the old primary ${primary.name} rejoined as a standby`);
});

t.test('PGDATA from another cluster: refused, data untouched', async (t) => {
  const home = path.join(c.dir, 'foreign');
  const pgdata = path.join(home, 'data');
  fs.mkdirSync(pgdata, { recursive: true });
  const ids = postgresIds();
  fs.chownSync(pgdata, ids.uid, ids.gid);
  fs.chmodSync(pgdata, 0o700);
  execFileSync('runuser', ['-u', 'postgres', '--', path.join(pgBin(), 'initdb'), '-D', pgdata, '-A', 'peer'], { stdio: 'ignore' });
  const before = treeHash(pgdata);
  const env = { ...c.env(n3), PGSWARM_HOME: home };
  const r = spawnSync(process.execPath, [PGNODE], { env, encoding: 'utf8', timeout: 60000 });
  t.not(r.status, 0, 'exits non-zero');
  t.match(r.stderr, /refus/i, 'says it refuses');
  t.match(r.stderr, /"rule":"foreign-data"/);
  t.equal(treeHash(pgdata), before, 'PGDATA byte-for-byte unchanged');
});

t.test('bad configuration: every problem listed at once, nothing touched', async (t) => {
  const home = path.join(c.dir, 'badconf');
  const r = spawnSync(process.execPath, [PGNODE], {
    env: { PATH: process.env.PATH, PGSWARM_NODE_NAME: 'Bad Name', PGSWARM_NODE_ID: 'x', PGSWARM_PEERS: 'n1@h', PGSWARM_HOME: home, POSTGRES_PASSWORD: 'a', POSTGRES_PASSWORD_FILE: '/nonexistent' },
    encoding: 'utf8',
    timeout: 20000,
  });
  t.equal(r.status, 64);
  for (const m of [/PGSWARM_NODE_NAME/, /PGSWARM_NODE_ID: must be a whole number/, /PGSWARM_PEERS: "n1@h" is not/, /POSTGRES_PASSWORD: set either/, /PGSWARM_REPMGR_PASSWORD: required/, /PGSWARM_CA_CERT_FILE: required/, /PGSWARM_BOOTSTRAP_NODE: required/]) {
    t.match(r.stderr, m);
  }
  t.notOk(fs.existsSync(home), 'did not create the node home');
});

t.test('no private key material in any database dump or log', async (t) => {
  const primary = (await c.inRecovery(n2)) === false ? n2 : n3;
  const dump = spawnSync(path.join(pgBin(), 'pg_dumpall'), ['-h', primary.host, '-p', String(primary.port), '-U', 'postgres'], {
    encoding: 'utf8', env: { ...process.env, PGPASSWORD: c.passwords.postgres, PGSSLMODE: 'verify-full', PGSSLROOTCERT: c.ca.cert }, maxBuffer: 1 << 28,
  });
  t.equal(dump.status, 0, dump.stderr);
  const texts = [dump.stdout, ...c.nodes.map((n) => fs.readFileSync(n.logFile, 'utf8')), fs.readFileSync(path.join(c.dir, 'bouncer.log'), 'utf8')];
  const secrets: string[] = [];
  for (const n of c.nodes) {
    for (const f of ['ssh/ssh_host_ed25519_key', 'ssh/id_ed25519', 'tls/server.key']) {
      const body = fs.readFileSync(path.join(n.home, f), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
      secrets.push(...body.filter((l) => l.length >= 40).map((l) => l.slice(0, 40)));
    }
  }
  t.ok(secrets.length >= 9, 'found the private keys to look for');
  for (const text of texts) {
    t.notMatch(text, /PRIVATE KEY-----/, 'no PEM private key marker');
    t.ok(secrets.every((s) => !text.includes(s)), 'no private key body');
    t.notOk(text.includes(c.passwords.repmgr) || text.includes(c.passwords.postgres), 'no password');
  }
});

t.test('SIGTERM stops the whole node fast and cleanly', async (t) => {
  const started = Date.now();
  const code = await c.stop(n2);
  const ms = Date.now() - started;
  t.equal(code, 0);
  t.ok(ms < 8000, `stopped in ${ms} ms (Docker's grace is 10 s)`);
  const cd = execFileSync(path.join(pgBin(), 'pg_controldata'), ['-D', path.join(n2.home, 'data')], { encoding: 'utf8', env: { LANG: 'C' } });
  t.match(cd, /Database cluster state:\s+shut down/, 'postgres shut down cleanly');
  await sleep(10);
});

/**
 * The postgres OS user (what a database superuser becomes with COPY ... TO PROGRAM) attacks the root
 * agents of a running two-node cluster and its real proxy (ports 16400-16449; docs/security.md,
 * "Privilege boundaries" and "Who runs what"):
 *  1. links planted at every name root writes, in every directory postgres can write (node and
 *     proxy), then every agent restarted so that every writer runs again: nothing outside the
 *     intended files changes owner, mode or content, and root writes no file where postgres can;
 *  2. the root-owned directories and files cannot be written, renamed or replaced by postgres;
 *  3. what the proxy hears: the relays its SSH sessions run are out of postgres's reach (no signal,
 *     no socket, no file), and the proxy's route does not change.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { NodeCluster } from '../helpers/node-cluster';
import { waitFor } from '../helpers/pg-tools';

const c = new NodeCluster('privb', 16400, { dataNodes: 2 });
const [n1, n2] = c.nodes;
const proxyHome = path.join(c.dir, 'p1');
t.teardown(() => c.teardown());

const pgIds = () => {
  const line = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).stdout.split(':');
  return { uid: Number(line[2]), gid: Number(line[3]) };
};
/** Runs a bash script as the postgres OS user. */
const asPostgres = (script: string) => {
  const { uid, gid } = pgIds();
  return spawnSync('bash', ['-c', script], { uid, gid, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, timeout: 30000 });
};

/** Every entry under `dir` (lstat, no symlink followed), pgdata's contents skipped unless `deep`. */
function walk(dir: string, out: { p: string; st: fs.Stats }[] = []): { p: string; st: fs.Stats }[] {
  for (const e of fs.readdirSync(dir)) {
    const p = path.join(dir, e);
    const st = fs.lstatSync(p);
    out.push({ p, st });
    if (st.isDirectory()) walk(p, out);
  }
  return out;
}

const canary = path.join(c.dir, 'canary');
const canaryStat = () => {
  const st = fs.statSync(canary);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, nlink: st.nlink, content: fs.readFileSync(canary, 'utf8') };
};

t.before(async () => {
  await c.setup();
  fs.mkdirSync(path.join(c.dir, 'initdb.d'));
  fs.writeFileSync(path.join(c.dir, 'initdb.d', '01-app.sql'), "CREATE ROLE app LOGIN PASSWORD 'app-password';\n");
  fs.writeFileSync(canary, 'root-owned canary\n', { mode: 0o644 });
  fs.chmodSync(c.dir, 0o755);
  c.startProxy();
  c.start(n1);
  await c.waitRunning(n1, 180000);
  c.start(n2);
  await c.waitRunning(n2, 180000);
  await waitFor('the proxy routes to n1', async () => ((await c.routedTo()) === 'n1' ? true : null), 90000, 200);
});

t.test('links planted at every name root writes, in every directory postgres can write, are never followed', async (t) => {
  const pg = pgIds();
  const homes = [n1.home, n2.home, proxyHome];
  // Every file name the agents keep (outside PGDATA), plus the temp names writers used to use.
  const names = new Set<string>(['standby.signal', 'initdb.pw', 'pgpass', 'repmgr.password', 'state.json', 'standby-history.json', 'sync-status.json',
    'fence.json', 'primary-streamed.json', 'ctl.sock', 'sshd.pid', 'server.key', 'server.crt', 'ca.crt', 'server.san', 'server.ext', 'current-primary.txt',
    'userlist.txt', 'pgbouncer.ini', 'health', 'authorized_keys', 'answer_keys', 'known_hosts']);
  for (const h of homes) for (const e of walk(h)) if (e.st.isFile() && !e.p.includes(`${path.sep}data${path.sep}`)) names.add(path.basename(e.p));
  const agentPids = [n1.proc?.pid, n2.proc?.pid, c.proxy?.pid].filter((p): p is number => typeof p === 'number');
  const variants = (n: string) => [n, `.${n}.tmp`, `${n}.new`, `${n}.tmp`, ...agentPids.map((p) => `${n}.tmp-${p}`)];
  // The directories the postgres user can write: found, not assumed.
  const isData = (d: string) => d.includes(`${path.sep}data${path.sep}`) || path.basename(d) === 'data';
  const writable = homes.flatMap((h) => [h, ...walk(h).filter((e) => e.st.isDirectory() && !isData(e.p)).map((e) => e.p)])
    .filter((d) => asPostgres(`touch ${JSON.stringify(path.join(d, '.probe'))} && rm -f ${JSON.stringify(path.join(d, '.probe'))}`).status === 0);
  t.ok(writable.length >= 4, `postgres can write ${writable.length} directories: ${writable.map((d) => path.relative(c.dir, d)).join(', ')}`);
  for (const d of writable) {
    t.equal(fs.statSync(d).uid, pg.uid, `${path.relative(c.dir, d)}: postgres writes only directories it owns`);
  }
  const before = canaryStat();
  let planted = 0;
  let hardlinks = 0;
  for (const d of writable) {
    const script = [...names].flatMap(variants).map((n) => `ln -sfn ${JSON.stringify(canary)} ${JSON.stringify(path.join(d, n))} 2>/dev/null && echo s; ln ${JSON.stringify(canary)} ${JSON.stringify(path.join(d, `hl-${n}`))} 2>/dev/null && echo h`).join('\n');
    const r = asPostgres(script);
    planted += (r.stdout.match(/^s$/gm) ?? []).length;
    hardlinks += (r.stdout.match(/^h$/gm) ?? []).length;
  }
  // In PGDATA only what root writes there (the standby's standby.signal; a link on the primary would make it start as a standby).
  const r = asPostgres(variants('standby.signal').map((n) => `ln -sfn ${JSON.stringify(canary)} ${JSON.stringify(path.join(n2.home, 'data', n))} && echo s`).join('\n'));
  planted += (r.stdout.match(/^s$/gm) ?? []).length;
  t.ok(planted > 50, `planted ${planted} symlinks to a root-owned file`);
  t.equal(hardlinks, 0, 'no hard link to a root-owned file could be made (fs.protected_hardlinks)');
  // Every writer runs again: stop and start each agent (TLS, config, passfile, state, history, health, proxy files).
  for (const n of [n2, n1]) await c.stop(n);
  await c.stopProxy();
  c.start(n1);
  await c.waitRunning(n1, 180000);
  c.start(n2);
  await c.waitRunning(n2, 180000);
  c.startProxy();
  await waitFor('the proxy routes to n1 again', async () => ((await c.routedTo()) === 'n1' ? true : null), 90000, 200);
  await new Promise((r) => setTimeout(r, 5000)); // the standby's history (every 3 s) and the status loops
  t.same(canaryStat(), before, 'the root-owned file behind every planted link kept its owner, mode, link count and content');
  for (const d of writable) {
    const rootFiles = walk(d).filter((e) => e.st.uid === 0 && !e.p.includes(`${path.sep}data${path.sep}`)).map((e) => path.relative(c.dir, e.p));
    const top = fs.readdirSync(d).map((f) => path.join(d, f)).filter((p) => fs.lstatSync(p).uid === 0 && !fs.lstatSync(p).isSymbolicLink()).map((p) => path.relative(c.dir, p));
    t.same([...new Set([...rootFiles, ...top])], [], `${path.relative(c.dir, d)}: root keeps no file in a directory postgres can write`);
  }
  const inData = (n: typeof n1) => walk(path.join(n.home, 'data')).filter((e) => e.st.uid === 0).map((e) => path.relative(c.dir, e.p));
  t.same([...inData(n1), ...inData(n2)], [], 'nothing root-owned in PGDATA (standby.signal is handed over on its descriptor)');
});

t.test('root-owned directories and files: postgres can neither write, rename, nor replace them', async (t) => {
  for (const h of [n1.home, proxyHome]) {
    const rootDirs = [h, ...walk(h).filter((e) => e.st.isDirectory() && e.st.uid === 0).map((e) => e.p)];
    const rootFiles = walk(h).filter((e) => e.st.isFile() && e.st.uid === 0).map((e) => e.p);
    t.ok(rootFiles.length >= 3, `${path.relative(c.dir, h)}: ${rootFiles.length} root-owned files, ${rootDirs.length} root-owned directories`);
    for (const d of rootDirs) {
      const r = asPostgres(`touch ${JSON.stringify(path.join(d, 'evil'))} || mv ${JSON.stringify(d)} ${JSON.stringify(`${d}.evil`)} 2>/dev/null`);
      t.not(r.status, 0, `${path.relative(c.dir, d)}: cannot add a file nor move it aside`);
    }
    const writes = rootFiles.map((f) => `( echo x >> ${JSON.stringify(f)} ) 2>/dev/null && echo ${JSON.stringify(f)}`).join('\n');
    t.equal(asPostgres(writes).stdout.trim(), '', `${path.relative(c.dir, h)}: no root-owned file is writable by postgres`);
  }
});

t.test('what the proxy hears: postgres cannot reach the relays, the answer socket, or the answer files', async (t) => {
  const relays = () => spawnSync('pgrep', ['-u', 'pgswarm-answer', '-f', 'current-primary-relay'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  const pids = await waitFor('the proxy\'s relays run as the answer account', async () => (relays().length >= 2 ? relays() : null), 30000, 200);
  t.ok(pids.length >= 2, `${pids.length} relays run as pgswarm-answer (not as postgres)`);
  const kill = asPostgres(pids.map((p) => `kill -STOP ${p} 2>&1 || echo refused`).join('\n'));
  t.equal((kill.stdout.match(/refused/g) ?? []).length, pids.length, 'postgres cannot stop (or trace) a relay');
  const mem = asPostgres(pids.map((p) => `cat /proc/${p}/environ >/dev/null 2>&1 && echo read`).join('\n'));
  t.notMatch(mem.stdout, /read/, 'postgres cannot read a relay\'s process memory or environment');
  const sock = path.join(n1.home, 'answer', 'answer.sock');
  const connect = asPostgres(`perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1' ${JSON.stringify(sock)}`);
  t.not(connect.status, 0, 'postgres cannot connect to the answer socket (no forged relay, no slots held)');
  const replace = asPostgres([
    `mv ${JSON.stringify(path.join(n1.home, 'answer'))} ${JSON.stringify(path.join(n1.home, 'answer.x'))}`,
    `echo 'print "PRIMARY: n2\\n"' > ${JSON.stringify(path.join(n1.home, 'answer', 'current-primary-relay'))}`,
    `ln -sf /tmp/x ${JSON.stringify(sock)}`,
    `echo evil >> ${JSON.stringify(path.join(n1.home, 'ssh', 'answer_keys'))}`,
  ].map((l) => `( ${l} ) 2>/dev/null && echo done`).join('\n'));
  t.equal(replace.stdout.trim(), '', 'the answer directory, the relay, the socket and the proxies\' key file stay root\'s');
  for (let i = 0; i < 10; i++) {
    t.equal(await c.routedTo(), 'n1', 'the proxy still routes to the primary');
    await new Promise((r) => setTimeout(r, 300));
  }
});

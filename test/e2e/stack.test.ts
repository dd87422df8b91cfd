/**
 * End to end in a real one-node swarm: deploy from nothing, write through the
 * published proxy port over TLS, kill the primary's container, rolling
 * restart, remove and redeploy with the same volumes, and security probes.
 * One deployment is shared by the subtests (a deploy costs minutes); each
 * later subtest fails, not skips, when the stack never came up.
 */
import t from 'tap';
import fs from 'node:fs';
import pg from 'pg';
import { cli, clientConfig, DIR, ROOT, lastUntilError, superSql, docker, PORT, percentile, query, roles, run, secretFile, sleep, STACK, until, Writer } from '../helpers/e2e-swarm';

const TABLE = 'e2e_writes';
let deployed = false;
const allAcked = new Set<number>();
let nextId = 1;

function need(tt: Tap.Test): boolean {
  if (!deployed) tt.fail('the stack is not deployed (an earlier subtest failed)');
  return deployed;
}
// tap's Test type without importing its internals
declare namespace Tap { type Test = { fail: (m: string) => void } }

async function missingAcked(): Promise<number[]> {
  const rows = await query<{ id: number }>(`SELECT id FROM ${TABLE}`);
  const have = new Set(rows.map((r) => Number(r.id)));
  return [...allAcked].filter((id) => !have.has(id));
}

async function withWriter<T>(fn: (w: Writer) => Promise<T>): Promise<{ w: Writer; r: T }> {
  const w = new Writer(TABLE, 50, nextId);
  w.start();
  try {
    const r = await fn(w);
    return { w, r };
  } finally {
    await w.stop();
    for (const a of w.acked) allAcked.add(a.id);
    nextId = Math.max(nextId, ...w.acked.map((a) => a.id + 1), nextId + 100000);
  }
}

t.before(async () => {
  // From nothing: no stack, no volumes, no secrets, no local directory.
  await cli(['down', '--volumes'], 180000);
  const names = await docker.secretNames().catch(() => [] as string[]);
  for (const n of names.filter((x) => x.startsWith(`${STACK}_`))) await docker.removeSecret(n);
  fs.rmSync(DIR, { recursive: true, force: true });
});

t.test('deploy from nothing with `pgswarm up`, write over TLS through the published port', async (t) => {
  const up = await cli(['up', '--timeout', process.env.PGSWARM_E2E_UP_TIMEOUT || '420'], 900000);
  t.equal(up.code, 0, `pgswarm up exits 0 (took ${Math.round(up.ms / 1000)} s)`, { stderr: up.stderr.split('\n').slice(-30).join('\n') });
  t.match(up.stdout, /postgresql:\/\/app@127\.0\.0\.1:\d+\/app\?sslmode=verify-full/, 'prints a verify-full connection string');
  t.comment(`cold deploy: ${Math.round(up.ms / 1000)} s (includes image builds when not cached)`);
  if (up.code !== 0) {
    // Say exactly what failed: the status table and the last log lines of every unhealthy service.
    const st = await cli(['status'], 60000);
    t.comment(`pgswarm status after the failed up:\n${st.stdout}${st.stderr}`);
    for (const svc of ['pgnode1', 'pgnode2', 'pgnode3', 'pgproxy1', 'pgproxy2']) {
      const { health } = await docker.runningTask(STACK, svc);
      if (health === 'healthy') continue;
      const l = await run('bash', ['-c', `timeout 20 docker service logs --raw --tail 400 ${STACK}_${svc} 2>&1 | grep -E '"level":(40|50|60)' | tail -5 | cut -c1-400`]);
      t.comment(`${svc} (${health}), last warnings/errors:\n${l.stdout}`);
    }
    return;
  }
  const ok = await until(() => query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())`).then(() => true), 60000);
  t.ok(ok, `table created through the proxy${ok ? '' : ` (last error: ${lastUntilError})`}`);
  if (!ok) return;
  for (let i = 0; i < 20; i++) {
    await query(`INSERT INTO ${TABLE} (id) VALUES ($1)`, [nextId]);
    allAcked.add(nextId++);
  }
  const rows = await query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`);
  t.equal(Number(rows[0].n), 20, 'rows read back');
  const ssl = await query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  t.equal(ssl[0]?.ssl, true, 'the proxy -> server hop is TLS too');
  const r = await roles();
  t.ok(r.primary, `one primary (${r.primary}); roles ${JSON.stringify(r.byNode)}`);
  t.equal(Object.values(r.byNode).filter((x) => x === 'standby').length, 2, 'two standbys');
  deployed = true;
});

t.test('a non-TLS client is refused at the published port; a wrong CA is refused', async (t) => {
  if (!need(t)) return;
  const plain = new pg.Client({ ...clientConfig(), ssl: false });
  plain.on('error', () => undefined);
  await t.rejects(plain.connect(), 'plaintext connection refused');
  await plain.end().catch(() => undefined);
  const wrongCa = new pg.Client({ ...clientConfig(), ssl: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', rejectUnauthorized: true } });
  wrongCa.on('error', () => undefined);
  await t.rejects(wrongCa.connect(), 'server certificate not from the cluster CA is refused by the client');
  await wrongCa.end().catch(() => undefined);
});

t.test('pgswarm status: table and --json agree with the nodes', async (t) => {
  if (!need(t)) return;
  // A node's probe of itself can time out for a moment on a loaded machine (its row then has no
  // timeline); a healthy cluster shows every timeline within a few looks.
  let s = await cli(['status', '--json'], 60000);
  for (let i = 0; i < 5 && s.code === 0 && JSON.parse(s.stdout).nodes.some((n: any) => n.timeline === null); i++) {
    t.comment(`look ${i + 1}: a node without a timeline: ${JSON.stringify(JSON.parse(s.stdout).nodes.map((n: any) => [n.node, n.role, n.timeline]))}`);
    await sleep(3000);
    s = await cli(['status', '--json'], 60000);
  }
  t.equal(s.code, 0, 'status exits 0 on a healthy cluster', { out: s.stdout + s.stderr });
  const v = JSON.parse(s.stdout);
  const r = await roles();
  t.equal(v.primary, r.primary, 'same primary as current-primary');
  t.equal(v.nodes.length, 3, 'three nodes');
  t.ok(v.nodes.every((n: any) => n.timeline !== null), 'every node shows a timeline');
  const table = await cli(['status'], 60000);
  t.match(table.stdout, /NODE\s+ROLE\s+HEALTH\s+LAG\s+TIMELINE\s+LAST DECISION\s+REASON/, 'table header');
});

t.test('docker kill of the primary: standby promoted, writes resume on the same port, old primary rejoins, nothing lost', async (t) => {
  if (!need(t)) return;
  const before = await roles();
  t.ok(before.primary, `primary before: ${before.primary}`);
  if (!before.primary) return;
  const victim = before.primary;
  const { w, r } = await withWriter(async (w) => {
    await sleep(2000);
    const acksBefore = w.acked.length;
    const killedAt = Date.now();
    await docker.api.getContainer(before.containers[victim]).kill();
    // only writes sent after the kill has been carried out count (one sent just before may still be acked by the old primary)
    const killDone = Date.now();
    const resumed = await until(async () => w.firstAckAfter(killDone + 1), 60000, 100);
    await sleep(2000);
    return { acksBefore, killedAt, resumed };
  });
  t.ok(r.acksBefore > 0, 'writes were acknowledged before the kill');
  t.ok(r.resumed, `writes resumed through port ${PORT}`);
  if (r.resumed) t.comment(`swarm failover: ${r.resumed - r.killedAt} ms from docker kill to the first acknowledged write`);
  const after = await until(async () => {
    const x = await roles();
    return x.primary && x.primary !== victim && x.byNode[victim] === 'standby' ? x : undefined;
  }, 120000, 2000);
  t.ok(after, `a new primary, and ${victim} back as a standby (${JSON.stringify(after?.byNode ?? (await roles()).byNode)})`);
  t.same(await missingAcked(), [], `no acknowledged row lost (${w.acked.length} acknowledged, ${w.errors} errors)`);
});

t.test('rolling restart with `docker service update --force` on each node: stays writable, nothing lost', async (t) => {
  if (!need(t)) return;
  const gaps: number[] = [];
  const { w } = await withWriter(async (w) => {
    for (const n of ['pgnode1', 'pgnode2', 'pgnode3']) {
      const r = await run('docker', ['service', 'update', '--force', '--detach=false', '--quiet', `${STACK}_${n}`], { timeoutMs: 300000 });
      t.equal(r.code, 0, `service update --force ${n}`, { err: r.stderr.slice(-2000) });
      const ok = await until(async () => {
        const x = await roles();
        return x.primary && Object.values(x.byNode).filter((v) => v === 'standby').length === 2;
      }, 120000, 2000);
      t.ok(ok, `cluster whole again after ${n}`);
    }
    return undefined;
  });
  for (let i = 1; i < w.acked.length; i++) gaps.push(w.acked[i].at - w.acked[i - 1].at);
  t.comment(`rolling restart: ${w.acked.length} writes acknowledged, ${w.errors} errors, longest pause ${Math.max(0, ...gaps)} ms, p99 gap ${gaps.length ? percentile(gaps, 99) : 0} ms`);
  t.ok(w.acked.length > 0, 'writes acknowledged during the rolling restart');
  t.same(await missingAcked(), [], 'no acknowledged row lost');
});

t.test('whole stack removed and deployed again with the same volumes: same data, one primary', async (t) => {
  if (!need(t)) return;
  const countBefore = Number((await query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`))[0].n);
  const down = await cli(['down'], 240000);
  t.equal(down.code, 0, 'pgswarm down (volumes kept)', { err: down.stderr });
  const vols = await docker.stackVolumes(STACK);
  t.ok(vols.length >= 3, `volumes kept: ${vols.join(', ')}`);
  const dep = await cli(['deploy', '--wait', '--timeout', '300'], 400000);
  t.equal(dep.code, 0, `deploy again (${Math.round(dep.ms / 1000)} s)`, { err: dep.stderr.split('\n').slice(-20).join('\n') });
  const ok = await until(() => query(`SELECT count(*) AS n FROM ${TABLE}`), 120000, 2000);
  t.ok(ok, 'readable through the proxy again');
  if (ok) t.equal(Number((ok as any)[0].n), countBefore, 'same number of rows');
  t.same(await missingAcked().catch((e) => [String(e)]), [], 'every acknowledged row still there');
  const r = await until(async () => {
    const x = await roles();
    return x.primary ? x : undefined;
  }, 60000, 2000);
  t.ok(r?.primary, `exactly one primary after redeploy: ${JSON.stringify(r?.byNode)}`);
  t.equal(Object.values(r?.byNode ?? {}).filter((v) => v === 'primary').length, 1, 'one node in the primary role');
});

t.test('security probes: images, service specs and the registry hold no secret', async (t) => {
  // Images and service specs can be checked even when the cluster never became healthy.
  t.ok((await docker.stackServices(STACK)).length === 5 || deployed, 'the stack\'s services exist');
  const secrets = ['app.password', 'postgres.password', 'repmgr.password', 'stats.password', 'auth.password', 'enroll.password', 'proxy1.token', 'proxy2.token', 'signing.key'].map(secretFile);
  const caKeyBody = secretFile('ca.key').split('\n').filter((l) => l && !l.startsWith('-----'))[0];
  const needles = [...secrets, caKeyBody, 'PRIVATE KEY'];
  const needleFile = `${DIR}/.needles`;
  fs.writeFileSync(needleFile, needles.filter((n) => n !== 'PRIVATE KEY').join('\n') + '\n', { mode: 0o600 });
  try {
    for (const img of ['pgswarm/pgnode:latest', 'pgswarm/pgproxy:latest']) {
      const r = await run('bash', [`${ROOT}/scripts/probe-image-secrets.sh`, img, needleFile], { timeoutMs: 300000 });
      // The probe exits 2 with nothing on stdout when it could not read the image (zero or unreadable layers).
      const scanned = /(\d+) layers, (\d+) files/.exec(r.stderr);
      t.ok(r.code === 0 && scanned && Number(scanned[1]) > 0 && Number(scanned[2]) > 0, `${img}: scanned ${scanned ? `${scanned[1]} layers, ${scanned[2]} files` : 'nothing'}`, { err: r.stderr.slice(-500) });
      t.equal(r.stdout.trim(), '0', `${img}: no key, password, token or PEM private key in any layer or in the image config`, { err: r.stderr.slice(-500) });
    }
  } finally {
    fs.rmSync(needleFile, { force: true });
  }
  for (const s of ['pgnode1', 'pgnode2', 'pgnode3', 'pgproxy1', 'pgproxy2']) {
    const r = await run('docker', ['service', 'inspect', `${STACK}_${s}`]);
    const hits = needles.filter((n) => r.stdout.includes(n));
    t.same(hits.map((h) => h.slice(0, 6) + '…'), [], `service ${s}: no secret in its spec`);
  }
  if (!need(t)) return;
  const out = await superSql('SELECT row_to_json(r)::text FROM pgswarm.registry r').catch((e) => `ERROR ${e.message}`);
  const reg = out.split('\n').filter(Boolean).map((row) => ({ row }));
  t.ok(reg.length > 0 && !reg[0].row.startsWith('ERROR'), `registry readable (${reg.length} rows${reg[0]?.row.startsWith('ERROR') ? `: ${reg[0].row}` : ''})`);
  t.notOk(reg.some((x) => /PRIVATE KEY|BEGIN OPENSSH/.test(x.row)), 'registry holds public keys only');
});

const SSH_PROBE = `
const { Client } = require('/opt/pgswarm/node_modules/ssh2');
const fs = require('fs'); const cp = require('child_process');
const pub = cp.execSync("find /var/lib/pgswarm-proxy -name '*.pub' -print").toString().trim().split('\\n')[0];
const key = fs.readFileSync(pub.replace(/\\.pub$/, ''));
const out = {};
const c = new Client();
const step = (name, fn) => new Promise((res) => fn((v) => { out[name] = v; res(); }));
c.on('ready', async () => {
  await step('exec_id', (done) => c.exec('id; cat /etc/shadow', (e, s) => { if (e) return done('refused: ' + e.message); let o = ''; s.on('data', (d) => o += d); s.stderr.on('data', (d) => o += d); s.on('close', () => done(o)); }));
  await step('pty_shell', (done) => c.shell({ term: 'xterm' }, (e, s) => { if (e) return done('refused: ' + e.message); let o = ''; s.on('data', (d) => o += d); s.on('close', () => done(o)); setTimeout(() => { try { s.end('id\\nexit\\n'); } catch {} }, 300); }));
  await step('forward', (done) => c.forwardOut('127.0.0.1', 1, '127.0.0.1', 5432, (e) => done(e ? 'refused: ' + e.message : 'OPENED')));
  await step('sftp', (done) => c.sftp((e) => done(e ? 'refused: ' + e.message : 'OPENED')));
  console.log(JSON.stringify(out)); c.end();
}).on('error', (e) => { console.log(JSON.stringify({ error: e.message })); })
  .connect({ host: 'pgnode1', port: 2222, username: process.argv[1] || 'pgswarm-answer', privateKey: key, readyTimeout: 5000, hostVerifier: () => true });
`;

t.test('the proxy\'s SSH key runs current-primary and nothing else', async (t) => {
  if (!need(t)) return;
  const { task } = await docker.runningTask(STACK, 'pgproxy1');
  t.ok(task?.containerId, 'proxy container running');
  if (!task?.containerId) return;
  const r = await docker.exec(task.containerId, ['node', '-e', SSH_PROBE], { timeoutMs: 30000 });
  let o: Record<string, string> = {};
  try {
    o = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
  } catch {
    o = { error: r.stdout + r.stderr };
  }
  t.notOk(o.error, `connected with the proxy key (${o.error ?? 'ok'})`);
  t.match(o.exec_id ?? '', /^PRIMARY: /, 'an arbitrary command gets current-primary\'s answer instead');
  t.notMatch(o.exec_id ?? 'uid=', /uid=|root:/, 'the arbitrary command did not run');
  t.notMatch(o.pty_shell ?? 'uid=', /uid=/, 'no interactive shell');
  t.match(o.forward ?? '', /^refused/, 'port forwarding refused');
  t.match(o.sftp ?? '', /^refused/, 'sftp refused');
  // The proxy's key belongs to the answer account only: as the PostgreSQL OS user it is no key at all.
  const asPg = await docker.exec(task.containerId, ['node', '-e', SSH_PROBE, 'postgres'], { timeoutMs: 30000 });
  t.match(asPg.stdout, /"error":"All configured authentication methods failed"/, 'the proxy key cannot log in as postgres');
});

t.test('least privilege: every capability dropped but the few needed, no_new_privs, nothing set-id, health checks root-only', async (t) => {
  if (!need(t)) return;
  // Capabilities by bit: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, KILL 5, SETGID 6, SETUID 7, SYS_CHROOT 18, AUDIT_WRITE 29.
  const allowed = { pgnode: (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n) | (1n << 7n) | (1n << 18n) | (1n << 29n), pgproxy: (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 5n) | (1n << 6n) | (1n << 7n) };
  for (const s of ['pgnode1', 'pgnode2', 'pgnode3', 'pgproxy1', 'pgproxy2']) {
    const { task } = await docker.runningTask(STACK, s);
    if (!task?.containerId) {
      t.fail(`${s}: no running container`);
      continue;
    }
    const r = await docker.exec(task.containerId, ['sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/1/status; find / -xdev -perm /6000 -type f 2>/dev/null | head -5; echo END; stat -c "%U %a %n" /usr/local/bin/*-health'], { timeoutMs: 30000 });
    const eff = BigInt('0x' + (/CapEff:\s*([0-9a-f]+)/.exec(r.stdout)?.[1] ?? 'ffffffffff'));
    const bnd = BigInt('0x' + (/CapBnd:\s*([0-9a-f]+)/.exec(r.stdout)?.[1] ?? 'ffffffffff'));
    const want = s.startsWith('pgnode') ? allowed.pgnode : allowed.pgproxy;
    t.equal(eff & ~want, 0n, `${s}: no effective capability beyond what the agent needs (CapEff ${eff.toString(16)})`);
    t.equal(bnd & ~want, 0n, `${s}: none in the bounding set either (CapBnd ${bnd.toString(16)})`);
    t.match(r.stdout, /NoNewPrivs:\s*1/, `${s}: no_new_privs is set for PID 1 and its children`);
    t.equal(r.stdout.split('END')[0].split('\n').filter((l) => l.startsWith('/')).length, 0, `${s}: no set-id file in the image`);
    t.match(r.stdout.split('END')[1], /^\s*root 755 \/usr\/local\/bin\/pg(node|proxy)-health\s*$/, `${s}: the health check is root's, 0755`);
  }
});

t.test('pgswarm down --volumes removes everything it made', async (t) => {
  const r = await cli(['down', '--volumes'], 240000);
  t.equal(r.code, 0, 'down --volumes', { err: r.stderr });
  t.same(await docker.stackVolumes(STACK), [], 'no volumes left');
  t.same((await docker.stackServices(STACK)).length, 0, 'no services left');
});

/**
 * pgproxy against real PostgreSQL 15 servers (TLS, hostssl + scram only) and
 * a real PgBouncer, with `askNode` answering from the real servers' state.
 * One story, in order: route to the primary; TLS on both sides; garbage and
 * hanging nodes ignored; split brain (old primary unfenced) resolved by the
 * vote without writes reaching the old one; no primary = clients wait, then
 * complete; agent restart serves again; an idle agent does no I/O; with
 * pushed answers (watchNode, as the streaming follower delivers them) a new
 * primary is routed well under a second after its answer arrives.
 */
import t, { Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log';
import { parseProxyConfig } from '../../src/core/proxy-config';
import { ProxyAgent, WatchNode } from '../../src/runtime/proxy-agent';
import type { AskResult } from '../../src/core/node-answer';
import type { Bouncer } from '../../src/ports/bouncer';
import { proxyRolesSql, proxyAuthFunctionSql } from '../../src/core/proxy-roles-sql';
import { renderPgbouncerIni, renderAuthFile } from '../../src/core/render-pgbouncer';
import { primaryFromShowDatabases } from '../../src/core/show-databases';
import { BouncerAdmin } from '../../src/adapters/bouncer-admin';
import { lookupUser } from '../../src/adapters/os-users';
import type { Member } from '../../src/core/node-config';
import { makeTempDir, makeTls, operatorProxyCertificate, instance, initPrimary, cloneStandby, startPg, stopPg, promote, direct, realAskNode, Override, PgInstance, Tls } from '../helpers/proxy-fixtures';

const PORTS = { n1: 15601, n2: 15602, n3: 15603, proxy: 15610, vfBad: 15611, vfGood: 15612 };
const APP_PW = 'app-pw-123';
const AUTH_PW = 'auth-pw-456';
const STATS_PW = 'stats-pw-789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

t.test('pgproxy with real PgBouncer and PostgreSQL', { timeout: 300000 }, async (t) => {
  const dir = makeTempDir('pgswarm-proxy-it');
  const pgUser = lookupUser('postgres');
  const insts: Record<string, PgInstance> = { n1: instance(dir, 'n1', PORTS.n1), n2: instance(dir, 'n2', PORTS.n2), n3: instance(dir, 'n3', PORTS.n3) };
  const members: Member[] = Object.values(insts).map((i) => ({ name: i.name, host: '127.0.0.1', port: i.port, sshPort: 22 }));
  const overrides = new Map<string, Override>();
  const logLines: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { logLines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  const events = () => logLines.map((l) => { try { return JSON.parse(l); } catch { return {}; } });
  const extraProcs: ChildProcess[] = [];
  let agent: ProxyAgent | undefined;
  let tls!: Tls;

  t.teardown(async () => {
    await agent?.stop().catch(() => undefined);
    for (const p of extraProcs) p.kill('SIGKILL');
    for (const i of Object.values(insts)) await stopPg(i, 'immediate').catch(() => undefined);
    if (process.env.PGSWARM_KEEP_TMP) { fs.writeFileSync(path.join(dir, 'agent.log'), logLines.join('\n')); return; }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  tls = await makeTls(dir);
  await initPrimary(dir, insts.n1, tls);
  await direct(tls, PORTS.n1, async (c) => {
    for (const s of proxyRolesSql({ authUser: 'pgswarm_auth', authPasswordScramOrPlain: AUTH_PW })) await c.query(s);
    await c.query(`CREATE ROLE app LOGIN PASSWORD '${APP_PW}'`);
    await c.query('CREATE DATABASE appdb OWNER app');
  });
  await direct(tls, PORTS.n1, async (c) => {
    for (const s of proxyAuthFunctionSql('pgswarm_auth')) await c.query(s);
    await c.query('CREATE TABLE writes (id bigserial PRIMARY KEY, tag text NOT NULL, server_port int NOT NULL DEFAULT current_setting(\'port\')::int)');
    await c.query('ALTER TABLE writes OWNER TO app');
  }, { database: 'appdb' });
  await cloneStandby(dir, insts.n2, insts.n1, tls);
  await cloneStandby(dir, insts.n3, insts.n1, tls);

  const proxyTls = await operatorProxyCertificate(dir, tls, 'pgproxy1');
  const env: Record<string, string> = {
    PGSWARM_PROXY_NAME: 'pgproxy1',
    PGSWARM_PEERS: members.map((m) => `${m.name}@${m.host}:${m.port}:${m.sshPort}`).join(','),
    PGSWARM_PROXY_LISTEN_ADDR: '127.0.0.1',
    PGSWARM_PROXY_PORT: String(PORTS.proxy),
    PGSWARM_PROXY_HOME: path.join(dir, 'proxy'),
    PGSWARM_PROXY_HEALTH_DIR: path.join(dir, 'proxy-health'),
    PGSWARM_CA_CERT_FILE: tls.caCert,
    PGSWARM_PROXY_TLS_CERT_FILE: proxyTls.cert,
    PGSWARM_PROXY_TLS_KEY_FILE: proxyTls.key,
    PGSWARM_AUTH_PASSWORD: AUTH_PW,
    PGSWARM_STATS_PASSWORD: STATS_PW,
    PGSWARM_POLL_INTERVAL_MS: '200',
    PGSWARM_SSH_TIMEOUT_MS: '1000',
    PGSWARM_QUERY_WAIT_TIMEOUT_SECS: '60',
  };
  const parsed = parseProxyConfig({ env, readFile: (p) => fs.readFileSync(p, 'utf8') });
  t.same(parsed.errors, [], 'proxy config parses');
  const config = parsed.config!;
  /** Every admin-console command the agent sends, counted (the idle agent must send none). */
  const adminCommands: string[] = [];
  const countingBouncer = (o: ConstructorParameters<typeof BouncerAdmin>[0]): Bouncer => {
    const b = new BouncerAdmin(o);
    const count = <T>(name: string, f: () => Promise<T>) => { adminCommands.push(name); return f(); };
    return {
      showDatabases: () => count('SHOW DATABASES', () => b.showDatabases()),
      showPools: () => count('SHOW POOLS', () => b.showPools()),
      pause: (ms) => count('PAUSE', () => b.pause(ms)),
      resume: () => count('RESUME', () => b.resume()),
      reload: () => count('RELOAD', () => b.reload()),
    };
  };
  const startAgent = async (watchNode?: WatchNode) => {
    agent = new ProxyAgent({ config, askNode: realAskNode(tls, members, overrides, 800), watchNode, bouncer: countingBouncer, logger: createLogger('pgproxy', { dest, level: 'debug' }) });
    await agent.start();
  };
  /** Inode and mtime of every file the agent writes: equal snapshots = nothing was written. */
  const fileStamps = () => ['state.json', 'pgbouncer.ini', 'userlist.txt'].map((f) => path.join(config.home, f)).concat(path.join(config.healthDir, 'health'))
    .map((f) => { const st = fs.statSync(f); return `${f}:${st.ino}:${st.mtimeMs}`; }).join('\n');
  const idleCheck = async (t: Test, ms: number) => {
    const before = fileStamps();
    const cmds = adminCommands.length;
    const logged = logLines.length;
    await sleep(ms);
    const changes = events().slice(logged).filter((e) => ['node-answer', 'vote', 'split-brain', 'bouncer-restarted'].includes(e.event)).map((e) => `${e.event}:${e.node ?? ''}:${e.kind ?? ''}:${e.primary ?? ''}:${e.detail ?? e.reason ?? ''}`);
    t.same(changes, [], 'the answers did not change meanwhile (else writes would be right)');
    t.equal(fileStamps(), before, `no file written in ${ms} ms of ticks (poll interval ${config.pollIntervalMs} ms)`);
    t.same(adminCommands.slice(cmds), [], 'no admin-console command while nothing changed');
  };

  const proxyClient = (o: { ssl?: boolean; timeoutMs?: number } = {}) => {
    const c = new Client({
      host: '127.0.0.1', port: PORTS.proxy, user: 'app', password: APP_PW, database: 'appdb',
      ssl: o.ssl === false ? false : { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true },
      connectionTimeoutMillis: o.timeoutMs ?? 5000,
    });
    c.on('error', () => undefined);
    return c;
  };
  /** One write through the proxy; returns the port of the server that took it. */
  const writeThroughProxy = async (tag: string, timeoutMs = 5000): Promise<number> => {
    const c = proxyClient({ timeoutMs });
    try {
      await c.connect();
      const r = await c.query('INSERT INTO writes (tag) VALUES ($1) RETURNING server_port', [tag]);
      return r.rows[0].server_port as number;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const tagsOn = (port: number) => direct(tls, port, async (c) => (await c.query('SELECT tag FROM writes')).rows.map((r) => r.tag as string), { database: 'appdb' });
  const stats = new BouncerAdmin({ host: '127.0.0.1', port: PORTS.proxy, user: 'pgswarm_stats', password: STATS_PW, ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true }, timeoutMs: 2000 });
  const routedTo = async () => primaryFromShowDatabases((await stats.showDatabases()) as never, members).primary;

  // The container's health check itself: a POSIX sh script using builtins only.
  const health = () => spawnSync('/bin/sh', [path.resolve(__dirname, '../../../images/pgproxy/pgproxy-health')], { env: { PATH: '/nonexistent', PGSWARM_PROXY_HEALTH_DIR: config.healthDir }, encoding: 'utf8', timeout: 10000 });

  await startAgent();

  await t.test('routes writes to the primary', async (t) => {
    const port = await waitFor('a write through the proxy', () => writeThroughProxy('first').catch(() => undefined), 20000, 250);
    t.equal(port, PORTS.n1, 'the write landed on n1, the primary');
    t.equal(await routedTo(), 'n1', 'SHOW DATABASES (as the stats user, over TLS) names n1');
    t.ok(events().some((e) => e.event === 'vote' && e.primary === 'n1' && /named by/.test(e.reason)), 'the decision was logged with its reason');
    const state = JSON.parse(fs.readFileSync(path.join(config.home, 'state.json'), 'utf8'));
    t.equal(state.primary, 'n1', 'state file for the health check');
    const ini = fs.readFileSync(path.join(config.home, 'pgbouncer.ini'), 'utf8');
    t.match(ini, new RegExp(`^\\* = host=127\\.0\\.0\\.1 port=${PORTS.n1}$`, 'm'));
    const auth = fs.readFileSync(path.join(config.home, 'userlist.txt'), 'utf8');
    t.notMatch(auth, /"app"/, 'no application user in the auth file');
    const h = health();
    t.equal(h.status, 0, `health check passes: ${h.stdout}`);
    t.match(h.stdout, /routing to n1/);
    t.notMatch(auth, new RegExp(STATS_PW), 'stats password stored only as a SCRAM verifier');
    t.equal(fs.statSync(path.join(config.home, 'userlist.txt')).mode & 0o077, 0, 'auth file is private');
    const hd = fs.statSync(config.healthDir);
    t.equal(hd.uid, 0, 'the health directory is root-owned');
    t.equal(hd.mode & 0o777, 0o755, 'and 0755: PgBouncer\'s user cannot replace the health file');
    t.equal(fs.statSync(path.join(config.healthDir, 'health')).uid, 0, 'health file root-owned');
    t.notOk('updatedAt' in state, 'no ticking timestamp in the state file');
  });

  await t.test('an idle agent (answers unchanged) does no I/O: no file write, no admin-console command', async (t) => {
    await idleCheck(t, 2500);
  });

  await t.test('TLS: a client without TLS is refused', async (t) => {
    const c = proxyClient({ ssl: false });
    await t.rejects(c.connect(), /SSL|TLS|ssl|pg_hba|not allowed|required/i);
    await c.end().catch(() => undefined);
  });

  await t.test('TLS: a client that does not trust the certificate is refused by its own check', async (t) => {
    const c = new Client({ host: '127.0.0.1', port: PORTS.proxy, user: 'app', password: APP_PW, database: 'appdb', ssl: { rejectUnauthorized: true }, connectionTimeoutMillis: 3000 });
    c.on('error', () => undefined);
    await t.rejects(c.connect(), /certificate|self.signed|issuer/i);
  });

  await t.test('the admin console refuses application users and wrong passwords', async (t) => {
    const asApp = new BouncerAdmin({ host: '127.0.0.1', port: PORTS.proxy, user: 'app', password: APP_PW, ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true } });
    // PgBouncer 1.18 makes an unknown console user wait (it looks the name up with auth_query, which the
    // virtual database cannot run) until the client gives up: refused either way, never let in.
    await t.rejects(asApp.showDatabases(), /not allowed|no such user|password|auth|timeout/i);
    const wrong = new BouncerAdmin({ host: '127.0.0.1', port: PORTS.proxy, user: 'pgswarm_stats', password: 'nope', ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true } });
    await t.rejects(wrong.showDatabases(), /password|auth/i);
    await t.rejects(stats.pause(), /admin|not allowed|denied|only/i, 'the stats user cannot PAUSE');
  });

  await t.test('superusers cannot log in through the proxy (auth_query refuses them)', async (t) => {
    const c = new Client({ host: '127.0.0.1', port: PORTS.proxy, user: 'postgres', password: 'super-secret-pw', database: 'appdb', ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true }, connectionTimeoutMillis: 5000 });
    c.on('error', () => undefined);
    await t.rejects(c.connect(), /password|auth|user/i);
  });

  await t.test('PgBouncer verifies the server certificate (verify-full)', async (t) => {
    // Same settings as the agent's, started by hand: once with a host name the
    // server certificate does not carry (localhost), once with its address.
    const mk = (name: string, port: number, host: string) => {
      const home = path.join(dir, name);
      fs.mkdirSync(path.join(home, 'run'), { recursive: true });
      fs.mkdirSync(path.join(home, 'none'), { recursive: true });
      fs.writeFileSync(path.join(home, 'userlist.txt'), renderAuthFile([{ user: 'pgswarm_auth', secret: AUTH_PW }]), { mode: 0o600 });
      fs.writeFileSync(path.join(home, 'pgbouncer.ini'), renderPgbouncerIni({
        listenAddr: '127.0.0.1', listenPort: port, unixSocketDir: path.join(home, 'run'), route: { host, port: PORTS.n1 }, noRouteDir: path.join(home, 'none'),
        databases: ['*'], authFile: path.join(home, 'userlist.txt'), authUser: 'pgswarm_auth', adminUser: 'adm', statsUser: 'sts',
        clientTlsCertFile: proxyTls.cert, clientTlsKeyFile: proxyTls.key, serverTlsCaFile: tls.caCert,
        poolMode: 'transaction', defaultPoolSize: 2, maxClientConn: 10, maxDbConnections: 5, queryWaitTimeoutSecs: 5, serverConnectTimeoutSecs: 2, serverLoginRetrySecs: 1, logConnections: true,
      }));
      for (const f of ['run', 'none', 'userlist.txt', 'pgbouncer.ini', '.']) fs.chownSync(path.join(home, f), pgUser.uid, pgUser.gid);
      const p = spawn('/usr/sbin/pgbouncer', [path.join(home, 'pgbouncer.ini')], { uid: pgUser.uid, gid: pgUser.gid, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err += d));
      extraProcs.push(p);
      return { p, log: () => err };
    };
    const bad = mk('vf-bad', PORTS.vfBad, 'localhost');
    const good = mk('vf-good', PORTS.vfGood, '127.0.0.1');
    const tryQuery = async (port: number) => {
      const c = new Client({ host: '127.0.0.1', port, user: 'app', password: APP_PW, database: 'appdb', ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true }, connectionTimeoutMillis: 8000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        return (await c.query('SELECT 1 AS one')).rows[0].one as number;
      } finally {
        await c.end().catch(() => undefined);
      }
    };
    t.equal(await waitFor('the good bouncer', () => tryQuery(PORTS.vfGood).catch(() => undefined), 10000, 200), 1, 'control: verified name works');
    await t.rejects(tryQuery(PORTS.vfBad), 'a server whose certificate does not match the host name is refused');
    t.match(bad.log(), /certificate|verify|name|TLS|SSL/i, 'PgBouncer logged the TLS failure');
    bad.p.kill('SIGTERM');
    good.p.kill('SIGTERM');
  });

  await t.test('a node answering garbage or hanging is ignored, logged, and the proxy keeps serving', async (t) => {
    overrides.set('n3', 'garbage');
    await waitFor('garbage logged', async () => events().some((e) => e.event === 'node-answer' && e.node === 'n3' && e.kind === 'garbage'));
    t.equal(await writeThroughProxy('during-garbage'), PORTS.n1, 'still writes to n1');
    overrides.set('n3', 'hang');
    await waitFor('timeout logged', async () => events().some((e) => e.event === 'node-answer' && e.node === 'n3' && e.kind === 'timeout'), 10000);
    t.equal(await writeThroughProxy('during-hang'), PORTS.n1, 'still writes to n1');
    t.equal(agent!.currentDecision()?.primary, 'n1');
    overrides.delete('n3');
    await waitFor('n3 answers again', async () => agent!.currentDecision()?.rule === 'majority' && !('n3' in (agent!.currentDecision()?.ignored ?? {})), 10000);
  });

  await t.test('split brain: the old primary stays up unfenced, the vote follows the standbys', async (t) => {
    // n3 cascades from n2, so when n2 is promoted n3 follows it onto the new timeline
    await stopPg(insts.n3);
    fs.appendFileSync(path.join(insts.n3.data, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${PORTS.n2} user=postgres passfile=${path.join(dir, 'pgpass')} sslmode=verify-full sslrootcert=${tls.caCert}'\n`);
    await startPg(insts.n3);
    await waitFor('n3 streams from n2', () => direct(tls, PORTS.n3, async (c) => (await c.query('SELECT sender_port FROM pg_stat_wal_receiver WHERE status = \'streaming\'')).rows[0]?.sender_port === PORTS.n2), 20000, 250);
    t.equal(await writeThroughProxy('before-promote'), PORTS.n1, 'still n1 (n1, n2 name it)');
    await sleep(500);
    await promote(insts.n2);
    await waitFor('proxy routes to n2', async () => (await routedTo()) === 'n2', 20000, 100);
    const port = await writeThroughProxy('after-promote');
    t.equal(port, PORTS.n2, 'writes resume through the same proxy address, on n2');
    const onOld = await tagsOn(PORTS.n1);
    t.notOk(onOld.includes('after-promote'), 'the old primary (still running, unfenced) got no write');
    t.ok(events().some((e) => e.event === 'split-brain' && e.primary === 'n2' && e.conflicts?.includes('n1')), 'the conflict was logged');
    t.ok(events().some((e) => e.event === 'repoint' && e.primary === 'n2'), 'the repoint was logged');
  });

  await t.test('no primary: clients wait instead of erroring, and complete when a primary appears', async (t) => {
    await stopPg(insts.n1, 'immediate'); // the old primary is gone for good
    await waitFor('n1 counted as timeout', async () => /timeout/.test(agent!.currentDecision()?.ignored.n1 ?? ''), 10000);
    await stopPg(insts.n2, 'immediate');
    await waitFor('no primary', async () => agent!.currentDecision()?.primary === null, 10000);
    await waitFor('paused', async () => events().some((e) => e.event === 'pause'), 10000);
    await waitFor('health check reports no primary and stays healthy (a paused proxy works)', async () => { const h = health(); return h.status === 0 && /no primary/.test(h.stdout); }, 5000, 200);
    const started = Date.now();
    let finished = 0;
    const pending = writeThroughProxy('while-paused', 60000).then((p) => { finished = Date.now(); return p; });
    pending.catch(() => undefined);
    await sleep(2500);
    t.equal(finished, 0, 'the client is still waiting after 2.5 s (no error)');
    await startPg(insts.n2);
    const port = await pending;
    t.equal(port, PORTS.n2, 'the waiting write completed on the primary that came back');
    t.ok(finished - started >= 2500, `it waited ${finished - started} ms`);
    t.ok(events().some((e) => e.event === 'resume'), 'resume logged');
  });

  await t.test('agent restart: PgBouncer comes back and serves again', async (t) => {
    await agent!.stop();
    await t.rejects(writeThroughProxy('while-down', 2000), 'nothing listens while the agent is stopped');
    t.equal(health().status, 1, 'health check fails while the agent is stopped');
    await startAgent();
    const port = await waitFor('a write after restart', () => writeThroughProxy('after-restart').catch(() => undefined), 20000, 250);
    t.equal(port, PORTS.n2);
    t.equal(await routedTo(), 'n2');
  });

  await t.test('pushed answers (watchNode): no polling, a new primary is routed well under a second after its answer', async (t) => {
    await agent!.stop();
    const answer = (node: string, primary: string | null, role: 'primary' | 'standby', upstream: string | null): AskResult =>
      ({ kind: 'ok', answer: { primary, node, role, timeline: 2, lsn: null, upstream, members: [], reason: 'pushed by the test' } });
    let world: Record<string, AskResult> = {
      n1: { kind: 'timeout', detail: 'down' },
      n2: answer('n2', 'n2', 'primary', null),
      n3: answer('n3', 'n2', 'standby', 'n2'),
    };
    const pushers = new Map<string, (r: AskResult) => void>();
    let watching = 0;
    const watchNode: WatchNode = (m, push) => {
      watching++;
      pushers.set(m.name, push);
      push(world[m.name]);
      const hb = setInterval(() => push(world[m.name]), 500); // the heartbeats of a stream
      return () => { clearInterval(hb); pushers.delete(m.name); watching--; };
    };
    const asked = adminCommands.length;
    await startAgent(watchNode);
    t.equal(watching, 3, 'one watch per node');
    const port = await waitFor('a write with pushed answers', () => writeThroughProxy('pushed').catch(() => undefined), 20000, 250);
    t.equal(port, PORTS.n2, 'routed to n2, the primary the pushed answers name');
    t.ok(adminCommands.length > asked, 'the decision was applied through the admin console');
    await sleep(500);
    await idleCheck(t, 2000);
    // a promotion, as the nodes' streams would report it (n3 claims primary, n2 follows it)
    world = { ...world, n2: answer('n2', 'n3', 'standby', 'n3'), n3: answer('n3', 'n3', 'primary', null) };
    const pushedAt = Date.now();
    pushers.get('n2')!(world.n2);
    pushers.get('n3')!(world.n3);
    await waitFor('routed to n3', async () => (await routedTo()) === 'n3', 5000, 20);
    const took = Date.now() - pushedAt;
    t.ok(took < 1000, `PgBouncer routes to n3 ${took} ms after the answers arrived (no poll tick waited for)`);
    world = { ...world, n2: answer('n2', 'n2', 'primary', null), n3: answer('n3', 'n2', 'standby', 'n2') };
    pushers.get('n2')!(world.n2);
    pushers.get('n3')!(world.n3);
    await waitFor('routed to n2 again', async () => (await routedTo()) === 'n2', 5000, 50);
    t.equal(await writeThroughProxy('pushed-back'), PORTS.n2);
    await agent!.stop();
    t.equal(watching, 0, 'stop ends every watch');
    t.equal(health().status, 1, 'stopped agent: unhealthy');
  });
});

/**
 * bench:proxy — pgbench through pgproxy (our agent + PgBouncer), through the
 * same PgBouncer with a static hand-written config and the same TLS, and
 * directly, in one run on loopback: select-only at 1 and 8 clients, TPC-B-like
 * at 8 clients, then 500 concurrent clients through pgproxy against a server
 * with max_connections=100. Last stdout line: one JSON object.
 *
 * BENCH_SECONDS (default 10) sets the length of each run; BENCH_ROUNDS (default
 * 2) repeats the interleaved set (pgproxy, pgbouncer, direct per load) and the
 * summary uses the mean of the rounds. Ports 15620-15629.
 */
import { machineInfo } from '../src/adapters/machine-info';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { createLogger } from '../src/core/log';
import { parseProxyConfig } from '../src/core/proxy-config';
import { ProxyAgent } from '../src/runtime/proxy-agent';
import { proxyRolesSql, proxyAuthFunctionSql, AUTH_FUNCTION } from '../src/core/proxy-roles-sql';
import { lookupUser } from '../src/adapters/os-users';
import { childProcessRunner } from '../src/adapters/child-process-runner';
import type { Member } from '../src/core/node-config';
import { makeTempDir, makeTls, operatorProxyCertificate, instance, initPrimary, stopPg, direct, realAskNode, PG_BIN } from '../test/helpers/proxy-fixtures';

const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const P = { pg: 15620, proxy: 15621, bouncer: 15622 };
const APP_PW = 'bench-app-pw';
const AUTH_PW = 'bench-auth-pw';

interface RunResult { target: string; load: string; clients: number; tps: number; failed: number; aborted: number; processed: number; code: number | null }

const machine = machineInfo;

async function pgbench(dir: string, caCert: string, port: number, args: string[], label: { target: string; load: string; clients: number }): Promise<RunResult> {
  const r = await childProcessRunner.run(`${PG_BIN}/pgbench`, ['-h', '127.0.0.1', '-p', String(port), '-U', 'app', '-n', '-M', 'simple', ...args, 'bench'], {
    user: 'postgres',
    env: { ...process.env, PGPASSFILE: path.join(dir, 'apppass'), PGSSLMODE: 'verify-full', PGSSLROOTCERT: caCert, PGCONNECT_TIMEOUT: '10' },
    timeoutMs: (SECONDS + 120) * 1000,
  });
  const out = r.stdout + '\n' + r.stderr;
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1] ?? /tps = ([\d.]+)/.exec(out)?.[1] ?? 0);
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
  const aborted = (out.match(/client \d+ aborted/g) ?? []).length + (/Run was aborted/.test(out) && !/client \d+ aborted/.test(out) ? 1 : 0);
  const res = { ...label, tps, failed, aborted, processed, code: r.code };
  console.log(`${label.target.padEnd(9)} ${label.load.padEnd(12)} c=${String(label.clients).padEnd(3)} tps=${tps.toFixed(0).padStart(7)} failed=${failed} aborted=${aborted} exit=${r.code}`);
  if (r.code !== 0 && tps === 0) console.log(out.split('\n').slice(-8).join('\n'));
  return res;
}

async function main(): Promise<void> {
  const dir = makeTempDir('pgswarm-bench-proxy');
  const pgUser = lookupUser('postgres');
  const tls = await makeTls(dir);
  const inst = instance(dir, 'n1', P.pg);
  const members: Member[] = [{ name: 'n1', host: '127.0.0.1', port: P.pg, sshPort: 22 }];
  const procs: ChildProcess[] = [];
  let agent: ProxyAgent | undefined;
  const cleanup = async () => {
    await agent?.stop().catch(() => undefined);
    for (const p of procs) p.kill('SIGTERM');
    await stopPg(inst, 'immediate').catch(() => undefined);
    if (!process.env.PGSWARM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await initPrimary(dir, inst, tls, 'max_connections = 100\nshared_buffers = 128MB\n');
    await direct(tls, P.pg, async (c) => {
      for (const s of proxyRolesSql({ authUser: 'pgswarm_auth', authPasswordScramOrPlain: AUTH_PW })) await c.query(s);
      await c.query(`CREATE ROLE app LOGIN PASSWORD '${APP_PW}'`);
      await c.query('CREATE DATABASE bench OWNER app');
    });
    await direct(tls, P.pg, async (c) => { for (const s of proxyAuthFunctionSql('pgswarm_auth')) await c.query(s); }, { database: 'bench' });
    const pass = path.join(dir, 'apppass');
    fs.writeFileSync(pass, `*:*:*:app:${APP_PW}\n`, { mode: 0o600 });
    fs.chownSync(pass, pgUser.uid, pgUser.gid);
    const init = await childProcessRunner.run(`${PG_BIN}/pgbench`, ['-i', '-q', '-s', '5', '-h', '127.0.0.1', '-p', String(P.pg), '-U', 'app', 'bench'], {
      user: 'postgres', env: { ...process.env, PGPASSFILE: pass, PGSSLMODE: 'verify-full', PGSSLROOTCERT: tls.caCert }, timeoutMs: 300000,
    });
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

    // pgproxy: our agent + PgBouncer, asking the (single) node every 500 ms
    const proxyTls = await operatorProxyCertificate(dir, tls, 'bench');
    const env: Record<string, string> = {
      PGSWARM_PROXY_NAME: 'bench', PGSWARM_PEERS: 'n1@127.0.0.1:' + P.pg + ':22', PGSWARM_PROXY_LISTEN_ADDR: '127.0.0.1', PGSWARM_PROXY_PORT: String(P.proxy),
      PGSWARM_PROXY_HOME: path.join(dir, 'proxy'), PGSWARM_CA_CERT_FILE: tls.caCert, PGSWARM_PROXY_TLS_CERT_FILE: proxyTls.cert, PGSWARM_PROXY_TLS_KEY_FILE: proxyTls.key, PGSWARM_AUTH_PASSWORD: AUTH_PW,
      PGSWARM_STATS_PASSWORD: 'bench-stats', PGSWARM_PROXY_POOL_SIZE: '20', PGSWARM_PROXY_MAX_DB_CONNECTIONS: '80',
    };
    const parsed = parseProxyConfig({ env, readFile: (p) => fs.readFileSync(p, 'utf8') });
    if (!parsed.config) throw new Error(parsed.errors.join('; '));
    const sink = new Writable({ write(_c, _e, cb) { cb(); } });
    agent = new ProxyAgent({ config: parsed.config, askNode: realAskNode(tls, members, new Map(), 1000), logger: createLogger('pgproxy', { dest: sink }) });
    await agent.start();

    // the same PgBouncer, static hand-written config, same TLS and pool settings
    const bdir = path.join(dir, 'static');
    fs.mkdirSync(path.join(bdir, 'run'), { recursive: true });
    fs.writeFileSync(path.join(bdir, 'userlist.txt'), `"pgswarm_auth" "${AUTH_PW}"\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(bdir, 'pgbouncer.ini'), `[databases]
* = host=127.0.0.1 port=${P.pg}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${P.bouncer}
unix_socket_dir = ${bdir}/run
auth_type = scram-sha-256
auth_file = ${bdir}/userlist.txt
auth_user = pgswarm_auth
auth_query = SELECT uname, phash FROM ${AUTH_FUNCTION}($1)
client_tls_sslmode = require
client_tls_cert_file = ${parsed.config.home}/tls/server.crt
client_tls_key_file = ${parsed.config.home}/tls/server.key
client_tls_protocols = secure
server_tls_sslmode = verify-full
server_tls_ca_file = ${tls.caCert}
server_tls_protocols = secure
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
max_db_connections = 80
query_wait_timeout = 30
log_connections = 0
log_disconnections = 0
`);
    for (const f of ['.', 'run', 'userlist.txt', 'pgbouncer.ini']) fs.chownSync(path.join(bdir, f), pgUser.uid, pgUser.gid);
    const b = spawn('/usr/sbin/pgbouncer', [path.join(bdir, 'pgbouncer.ini')], { uid: pgUser.uid, gid: pgUser.gid, stdio: 'ignore' });
    procs.push(b);

    // wait until both poolers serve
    for (const port of [P.proxy, P.bouncer]) {
      const end = Date.now() + 30000;
      for (;;) {
        const r = await pgbench(dir, tls.caCert, port, ['-S', '-t', '1', '-c', '1'], { target: 'warmup', load: String(port), clients: 1 });
        if (r.code === 0) break;
        if (Date.now() > end) throw new Error(`pooler on ${port} does not serve`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }

    const targets: [string, number][] = [['pgproxy', P.proxy], ['pgbouncer', P.bouncer], ['direct', P.pg]];
    const loads: { load: string; clients: number; args: string[] }[] = [
      { load: 'select-only', clients: 1, args: ['-S', '-c', '1', '-j', '1'] },
      { load: 'select-only', clients: 8, args: ['-S', '-c', '8', '-j', '2'] },
      { load: 'tpcb-like', clients: 8, args: ['-c', '8', '-j', '2'] },
    ];
    const results: RunResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const l of loads) {
        for (const [target, port] of targets) results.push(await pgbench(dir, tls.caCert, port, [...l.args, '-T', String(SECONDS)], { target, load: l.load, clients: l.clients }));
      }
    }
    const many = await pgbench(dir, tls.caCert, P.proxy, ['-S', '-c', '500', '-j', '2', '-T', String(Math.max(SECONDS, 10))], { target: 'pgproxy', load: 'select-only', clients: 500 });
    results.push(many);

    const tps = (target: string, load: string, clients: number) => {
      const xs = results.filter((r) => r.target === target && r.load === load && r.clients === clients).map((r) => r.tps);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
    };
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : null);
    const summary = {
      bench: 'proxy',
      seconds_per_run: SECONDS,
      rounds: ROUNDS,
      mean_tps: Object.fromEntries(targets.flatMap(([tg]) => loads.map((l) => [`${tg}_${l.load}_c${l.clients}`, Math.round(tps(tg, l.load, l.clients))]))),
      vs_pgbouncer_ratio: ratio(tps('pgproxy', 'select-only', 8), tps('pgbouncer', 'select-only', 8)),
      vs_direct_ratio: ratio(tps('pgproxy', 'select-only', 8), tps('direct', 'select-only', 8)),
      vs_pgbouncer_ratio_c1: ratio(tps('pgproxy', 'select-only', 1), tps('pgbouncer', 'select-only', 1)),
      vs_pgbouncer_ratio_tpcb: ratio(tps('pgproxy', 'tpcb-like', 8), tps('pgbouncer', 'tpcb-like', 8)),
      many_clients: 500,
      server_max_connections: 100,
      many_clients_tps: many.tps,
      many_clients_transactions: many.processed,
      many_clients_errors: many.failed + many.aborted + (many.code === 0 ? 0 : many.processed === 0 ? 500 : 0),
      runs: results.map((r) => ({ target: r.target, load: r.load, clients: r.clients, tps: Math.round(r.tps * 10) / 10, failed: r.failed, aborted: r.aborted })),
      tls: 'client->pooler require (verify-full by pgbench), pooler->server verify-full, direct verify-full',
      machine: machine(),
    };
    await cleanup();
    console.log(JSON.stringify(summary));
  } catch (e) {
    await cleanup();
    throw e;
  }
}

main().then(() => process.exit(0), (e) => { console.error(`bench-proxy: ${(e as Error).stack ?? e}`); process.exit(1); });

/**
 * Attack (issue 13, item 8a): pg_hba admitted the superuser and repmgr (replication included) from
 * 0.0.0.0/0, so anyone who can reach the port and has (or guesses) the password logs in as a
 * superuser. The rendered pg_hba must admit them only from the cluster network (samenet).
 *
 * On loopback every address is "samenet", so this test builds its own network: two network
 * namespaces joined by a veth pair. The server (real PostgreSQL 15, our rendered pg_hba.conf)
 * lives in one with 10.231.0.1/24 and 10.232.0.1/32; the client namespace has 10.231.0.2 (in the
 * server's subnet: the cluster network) and 10.233.0.2 (in none of the server's subnets, routed:
 * "outside"). Connections to 10.232.0.1 leave from 10.233.0.2. Nothing is added to the host's own
 * network namespace.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { renderPgHba } from '../../src/core/render-postgres';
import { makeTempDir, makeTls, instance, initPrimary, stopPg, direct, PG_BIN, SUPER_PW } from '../helpers/proxy-fixtures';

const PORT = 16101;
const NS_S = 'pgsw16101-srv';
const NS_C = 'pgsw16101-cli';
const REPL_PW = 'repmgr-pw-for-the-test';
const APP_PW = 'app-pw-for-the-test';

function sh(cmd: string, args: string[], env?: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30000, env: env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
}

t.test('superuser and repmgr only from the cluster network; other roles as before', async (t) => {
  const dir = makeTempDir('hba-samenet');
  const inst = instance(dir, 'n1', PORT);
  const tls = await makeTls(dir);
  const cleanupNs = async () => {
    await sh('ip', ['netns', 'del', NS_S]);
    await sh('ip', ['netns', 'del', NS_C]);
  };
  await cleanupNs(); // left over by a killed run
  t.teardown(async () => {
    await stopPg(inst, 'immediate').catch(() => undefined);
    await cleanupNs();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  await initPrimary(dir, inst, tls);
  await direct(tls, PORT, async (c) => {
    await c.query(`CREATE ROLE repmgr LOGIN SUPERUSER REPLICATION PASSWORD '${REPL_PW}'`);
    await c.query(`CREATE ROLE app LOGIN PASSWORD '${APP_PW}'`);
  });
  await stopPg(inst);

  // The network: server and client namespaces, one veth between them.
  for (const args of [
    ['netns', 'add', NS_S], ['netns', 'add', NS_C],
    ['-n', NS_S, 'link', 'set', 'lo', 'up'], ['-n', NS_C, 'link', 'set', 'lo', 'up'],
    ['-n', NS_S, 'link', 'add', 'vs', 'type', 'veth', 'peer', 'name', 'vc', 'netns', NS_C],
    ['-n', NS_S, 'addr', 'add', '10.231.0.1/24', 'dev', 'vs'],
    ['-n', NS_S, 'addr', 'add', '10.232.0.1/32', 'dev', 'vs'],
    ['-n', NS_S, 'link', 'set', 'vs', 'up'],
    ['-n', NS_S, 'route', 'add', '10.233.0.0/24', 'dev', 'vs'],
    ['-n', NS_C, 'addr', 'add', '10.231.0.2/24', 'dev', 'vc'],
    ['-n', NS_C, 'addr', 'add', '10.233.0.2/24', 'dev', 'vc'],
    ['-n', NS_C, 'link', 'set', 'vc', 'up'],
    ['-n', NS_C, 'route', 'add', '10.232.0.1/32', 'dev', 'vc', 'src', '10.233.0.2'],
  ]) await must('ip', args);

  // Our rendered pg_hba.conf, and PostgreSQL listening on the server namespace's addresses.
  const input = { replUser: 'repmgr', superuser: 'postgres' };
  const hba = renderPgHba(input);
  t.comment(hba);
  fs.writeFileSync(path.join(inst.data, 'pg_hba.conf'), hba);
  fs.appendFileSync(path.join(inst.data, 'postgresql.conf'), "\nlisten_addresses = '10.231.0.1,10.232.0.1'\n");
  await must('ip', ['netns', 'exec', NS_S, 'runuser', '-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', inst.data, '-l', inst.log, '-w', '-t', '30', 'start']);
  t.notMatch(fs.readFileSync(inst.log, 'utf8'), /invalid|could not load pg_hba/i, 'PostgreSQL loaded the rendered pg_hba.conf');

  const psql = (to: string, user: string, password: string, sql: string, extra = '') => sh('ip', ['netns', 'exec', NS_C, `${PG_BIN}/psql`, '-X', '-At',
    `host=pgserver hostaddr=${to} port=${PORT} dbname=postgres user=${user} sslmode=verify-full sslrootcert=${tls.caCert} connect_timeout=5 ${extra}`, '-c', sql,
  ], { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: password });
  const CLUSTER = '10.231.0.1'; // reached from 10.231.0.2: in the server's subnet
  const OUTSIDE = '10.232.0.1'; // reached from 10.233.0.2: in none of the server's subnets

  // From the cluster network: everyone in.
  let r = await psql(CLUSTER, 'postgres', SUPER_PW, 'SELECT pg_catalog.inet_client_addr()');
  t.same(r, { code: 0, out: '10.231.0.2' }, 'superuser from the cluster network: admitted');
  r = await psql(CLUSTER, 'repmgr', REPL_PW, 'SELECT pg_catalog.inet_client_addr()');
  t.same(r, { code: 0, out: '10.231.0.2' }, 'repmgr from the cluster network: admitted');
  r = await psql(CLUSTER, 'repmgr', REPL_PW, 'IDENTIFY_SYSTEM', 'replication=true');
  t.equal(r.code, 0, `replication from the cluster network: admitted (${r.out})`);

  // From outside: the route works (app gets in, from the outside address) ...
  r = await psql(OUTSIDE, 'app', APP_PW, 'SELECT pg_catalog.inet_client_addr()');
  t.same(r, { code: 0, out: '10.233.0.2' }, 'control: app from outside the cluster network is admitted, as before');
  // ... but not as the superuser or repmgr, even with the right password.
  r = await psql(OUTSIDE, 'postgres', SUPER_PW, 'SELECT 1');
  t.ok(r.code !== 0 && /pg_hba\.conf rejects connection/.test(r.out), `superuser from outside: rejected (${r.out})`);
  r = await psql(OUTSIDE, 'repmgr', REPL_PW, 'SELECT 1');
  t.ok(r.code !== 0 && /pg_hba\.conf rejects connection/.test(r.out), `repmgr from outside: rejected (${r.out})`);
  r = await psql(OUTSIDE, 'repmgr', REPL_PW, 'IDENTIFY_SYSTEM', 'replication=true');
  t.ok(r.code !== 0 && /pg_hba\.conf rejects/.test(r.out), `replication from outside: rejected (${r.out})`);

  // Still TLS only.
  r = await psql(CLUSTER, 'app', APP_PW, 'SELECT 1', 'sslmode=disable');
  t.ok(r.code !== 0 && /no pg_hba\.conf entry/.test(r.out), `plaintext refused (${r.out})`);
  r = await psql(CLUSTER, 'postgres', SUPER_PW, 'SELECT 1', 'sslmode=disable');
  t.ok(r.code !== 0 && /no pg_hba\.conf entry/.test(r.out), `plaintext superuser refused (${r.out})`);
});

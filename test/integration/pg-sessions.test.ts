/**
 * PgSessions against a real PostgreSQL 15 over verify-full TLS: many probes on one connection
 * (one backend, not one per probe), a stopped server refused at once and found again after a
 * restart, and a frozen server answered with a deadline (not a hang) and replaced once stuck.
 */
import t from 'tap';
import fs from 'node:fs';
import { PgSessions, DeadlineExceeded } from '../../src/adapters/pg-sessions';
import { makeTempDir, makeTls, instance, initPrimary, startPg, stopPg, direct, SUPER_PW } from '../helpers/proxy-fixtures';

const PORT = 15680;

t.test('probes reuse one connection; refusals and a frozen server are handled', async (t) => {
  const dir = makeTempDir('pg-sessions');
  const inst = instance(dir, 'n1', PORT);
  const tls = await makeTls(dir);
  await initPrimary(dir, inst, tls);
  const sessions = new PgSessions({ stuckMs: 1500 });
  let frozen: number | null = null;
  t.teardown(async () => {
    if (frozen) process.kill(frozen, 'SIGCONT');
    await sessions.closeAll();
    await stopPg(inst, 'immediate').catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const target = { host: '127.0.0.1', port: PORT, user: 'postgres', password: SUPER_PW, database: 'postgres', caFile: tls.caCert, timeoutMs: 2000 };
  const backends = () => direct(tls, PORT, async (c) => Number((await c.query("SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")).rows[0].n));

  const answers: boolean[] = [];
  for (let i = 0; i < 30; i++) answers.push((await sessions.query<{ r: boolean }>(target, 'SELECT pg_is_in_recovery() AS r'))[0].r);
  t.same(answers, Array(30).fill(false), '30 probes answered');
  t.equal(sessions.connectsStarted, 1, '30 probes, one connection');
  t.equal(await backends(), 1, 'one backend on the server for all of them');

  await stopPg(inst, 'fast');
  const down = await sessions.query(target, 'SELECT 1').then(() => null, (e: Error) => e);
  t.ok(down, 'a stopped server fails the probe');
  const t0 = Date.now();
  const again = await sessions.query(target, 'SELECT 1').then(() => null, (e: Error) => e);
  t.ok(again && Date.now() - t0 < 1000, `a refusal fails fast (${again?.message})`);
  await startPg(inst);
  let back = false;
  for (let i = 0; i < 40 && !back; i++) {
    back = await sessions.query(target, 'SELECT 1').then(() => true, () => false);
    if (!back) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(back, 'found again soon after the restart (no long backoff after refusals)');

  // Freeze the backend serving our session: the probe must end at its deadline.
  const pid = Number((await sessions.query<{ pid: number }>(target, 'SELECT pg_backend_pid() AS pid'))[0].pid);
  process.kill(pid, 'SIGSTOP');
  frozen = pid;
  const f0 = Date.now();
  const err = await sessions.query(target, 'SELECT 1', [], 500).then(() => null, (e: Error) => e);
  t.ok(err instanceof DeadlineExceeded, `a frozen server: deadline exceeded (${err?.message})`);
  t.ok(Date.now() - f0 < 1500, `within its deadline (${Date.now() - f0} ms)`);
  await new Promise((r) => setTimeout(r, 1700));
  const before = sessions.connectsStarted;
  // The stuck session is dropped on the next use, and a new connection serves the probe after the backoff.
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    ok = await sessions.query(target, 'SELECT 1', [], 1000).then(() => true, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(ok, 'a stuck session is replaced by a new connection');
  t.ok(sessions.connectsStarted > before, 'it reconnected');
  process.kill(pid, 'SIGCONT');
  frozen = null;
});

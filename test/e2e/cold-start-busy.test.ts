/**
 * Cold start on a busy machine: with one core kept busy by scripts/cpu-hog.sh,
 * the default stack deployed from nothing (fresh volumes, fresh secrets) must
 * within 90 s of `pgswarm deploy` have a primary, both proxies routing to it,
 * and acknowledge a write through a proxy's published port. The control
 * plane must leave room for the database: before the probing rewrite an idle
 * stack kept both cores busy by itself.
 *
 * Its own stack (<PGSWARM_E2E_STACK>cold, default pgse2ecold), ports
 * (PGSWARM_E2E_PORT + 2 and + 3, default 15734/15735) and directory, so it
 * never touches stack.test.ts's stack or volumes; it removes its stack, its
 * volumes and its secrets at the end. Images are built from this checkout
 * first (not timed). Every wait is bounded by the 90 s budget; a failed step
 * ends the file (the later ones only clean up). PGSWARM_COLD_START_BUDGET_S
 * changes the budget.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';

// e2e-swarm.ts reads its stack, ports and directory from the environment when it is loaded:
// give this file its own before loading it.
const baseStack = process.env.PGSWARM_E2E_STACK || 'pgse2e';
process.env.PGSWARM_E2E_STACK = `${baseStack}cold`;
process.env.PGSWARM_E2E_PORT = String(Number(process.env.PGSWARM_E2E_PORT || 15732) + 2);
if (process.env.PGSWARM_E2E_DIR) process.env.PGSWARM_E2E_DIR = `${process.env.PGSWARM_E2E_DIR}-cold`;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const h = require('../helpers/e2e-swarm') as typeof import('../helpers/e2e-swarm');
const { cli, docker, DIR, PORT, PORT2, ROOT, STACK, query, roles, run, until } = h;

const BUDGET_MS = Number(process.env.PGSWARM_COLD_START_BUDGET_S || 90) * 1000;
const TABLE = 'cold_start_writes';

let hog: ChildProcess | undefined;

/** Ends the CPU hog (SIGTERM, then SIGKILL after 5 s); idempotent. */
async function stopHog(): Promise<string> {
  const p = hog;
  hog = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return 'not running';
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t0 = Date.now();
  await Promise.race([gone, h.sleep(5000)]);
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL');
    await Promise.race([gone, h.sleep(2000)]);
    return 'killed with SIGKILL';
  }
  return `stopped in ${Date.now() - t0} ms`;
}

/** No stack, no volumes, no secrets, no local directory: idempotent. */
async function removeEverything(): Promise<string[]> {
  const problems: string[] = [];
  const down = await cli(['down', '--volumes'], 240000);
  if (down.code !== 0) problems.push(`pgswarm down --volumes exited ${down.code}: ${down.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const names = await docker.secretNames().catch(() => [] as string[]);
  for (const n of names.filter((x) => x.startsWith(`${STACK}_`))) {
    await docker.removeSecret(n).catch((e) => problems.push(`secret ${n}: ${(e as Error).message}`));
  }
  fs.rmSync(DIR, { recursive: true, force: true });
  return problems;
}

// The hog must not outlive this process, whatever happens (it also exits by itself once we are gone).
process.on('exit', () => {
  if (hog && hog.exitCode === null) hog.kill('SIGKILL');
});
let cleanedUp = false;
t.teardown(async () => {
  await stopHog();
  if (!cleanedUp) await removeEverything();
});

/** What a failed deploy looked like: health of every service and their last warnings. */
async function diagnose(t: { comment: (...m: unknown[]) => void }): Promise<void> {
  const st = await cli(['status'], 60000);
  t.comment(`pgswarm status:\n${st.stdout}${st.stderr.split('\n').slice(-10).join('\n')}`);
  for (const svc of ['pgnode1', 'pgnode2', 'pgnode3', 'pgproxy1', 'pgproxy2']) {
    const { health } = await docker.runningTask(STACK, svc).catch(() => ({ health: 'unknown' }));
    const l = await run('bash', ['-c', `timeout 20 docker service logs --raw --tail 300 ${STACK}_${svc} 2>&1 | grep -E '"level":(40|50|60)' | tail -4 | cut -c1-300`], { timeoutMs: 30000 });
    t.comment(`${svc} (${health}), last warnings/errors:\n${l.stdout}`);
  }
}

t.test(`cold deploy with one core busy: primary, proxies routing and a write within ${BUDGET_MS / 1000} s`, async (t) => {
  // 1. the hog: one core busy for the whole deploy
  hog = spawn('bash', [path.join(ROOT, 'scripts', 'cpu-hog.sh')], { stdio: 'ignore' });
  await h.sleep(1000);
  t.ok(hog.exitCode === null && hog.signalCode === null, `CPU hog running (pid ${hog.pid})`);
  if (hog.exitCode !== null || hog.signalCode !== null) return;

  // 2. nothing left of an earlier run of this file
  const leftovers = await removeEverything();
  t.same(leftovers, [], `no ${STACK} stack, volumes, secrets or ${DIR} left from before`);
  if (leftovers.length) return;

  // 3. images of this checkout and the cluster's secrets (not timed)
  const build = await run('bash', [path.join(ROOT, 'scripts', 'build-images.sh')], { env: { ...h.e2eEnv, PGSWARM_SKIP_TS_BUILD: '1' }, timeoutMs: 1200000 });
  t.equal(build.code, 0, `images built (${Math.round(build.ms / 1000)} s, not timed)`, { err: build.stderr.split('\n').slice(-10).join('\n') });
  if (build.code !== 0) return;
  const init = await cli(['init'], 120000);
  t.equal(init.code, 0, 'pgswarm init: fresh secrets', { err: init.stderr.split('\n').slice(-10).join('\n') });
  if (init.code !== 0) return;

  // 4. the timed part: deploy from nothing on fresh volumes
  const t0 = Date.now();
  const elapsed = () => Date.now() - t0;
  const remaining = () => Math.max(0, BUDGET_MS - elapsed());
  const secs = (ms: number) => (ms / 1000).toFixed(1);
  const dep = await cli(['deploy', '--wait', '--timeout', String(Math.ceil(BUDGET_MS / 1000))], BUDGET_MS + 30000);
  const healthyAt = elapsed();
  t.ok(dep.code === 0 && healthyAt <= BUDGET_MS, `pgswarm deploy --wait: every service healthy and the app role made in ${secs(healthyAt)} s (exit ${dep.code})`, { err: dep.stderr.split('\n').slice(-15).join('\n') });
  if (dep.code !== 0 || healthyAt > BUDGET_MS) return diagnose(t);

  const primary = await until(async () => (await roles()).primary, remaining(), 1000);
  const primaryAt = elapsed();
  t.ok(primary && primaryAt <= BUDGET_MS, `a primary (${primary ?? 'none'}) after ${secs(primaryAt)} s`, { lastError: h.lastUntilError });
  if (!primary || primaryAt > BUDGET_MS) return diagnose(t);

  for (const port of [PORT, PORT2]) {
    const onPrimary = await until(async () => {
      const r = await query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r', [], port);
      return r[0]?.r === false;
    }, remaining(), 1000);
    const at = elapsed();
    t.ok(onPrimary && at <= BUDGET_MS, `the proxy on port ${port} routes to a primary after ${secs(at)} s`, { lastError: h.lastUntilError });
    if (!onPrimary || at > BUDGET_MS) return diagnose(t);
  }

  const id = Date.now();
  const wrote = await until(async () => {
    await query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`, [], PORT);
    await query(`INSERT INTO ${TABLE} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [id], PORT);
    return true;
  }, remaining(), 1000);
  const wroteAt = elapsed();
  t.ok(wrote && wroteAt <= BUDGET_MS, `a write through port ${PORT} acknowledged after ${secs(wroteAt)} s`, { lastError: h.lastUntilError });
  if (!wrote || wroteAt > BUDGET_MS) return diagnose(t);
  const back = await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE} WHERE id = $1`, [id], PORT2).catch(() => [{ n: -1 }]);
  t.equal(back[0]?.n, 1, `the write reads back through the other proxy (port ${PORT2})`);
  t.comment(`cold start under a CPU hog: healthy ${secs(healthyAt)} s, primary ${secs(primaryAt)} s, write acknowledged ${secs(wroteAt)} s after docker stack deploy began (budget ${BUDGET_MS / 1000} s)`);
  return undefined;
});

t.test('hog stopped; stack, volumes, secrets and directory removed', async (t) => {
  t.comment(`CPU hog: ${await stopHog()}`);
  const problems = await removeEverything();
  cleanedUp = true;
  t.same(problems, [], `pgswarm down --volumes and secrets removed for ${STACK}`);
  t.same(await docker.stackVolumes(STACK), [], 'no volumes left');
  t.equal((await docker.stackServices(STACK)).length, 0, 'no services left');
});

/**
 * npm run chaos -- --runs N --scenario a,b,…
 *
 * Fault-injection suite against a real swarm stack (compose/stack.yml, strict
 * synchronous mode unless a scenario says otherwise). Per run: two writers
 * (one per published proxy port) insert uniquely numbered rows every 50 ms and
 * record every acknowledgement with the server and timeline that accepted it;
 * a prober asks every node directly every ~200 ms whether it is a primary that
 * can acknowledge; one fault is injected; afterwards, once the cluster is whole
 * again, every acknowledged id must be on the final primary and on every
 * standby exactly once, and no two (server, timeline) pairs may have
 * acknowledged writes at the same time. One JSON summary per scenario on
 * stdout (one line each) and in the results directory. Not part of npm test.
 *
 * Env: PGSWARM_CHAOS_STACK (pgchaos), PGSWARM_CHAOS_PORT (15740; +1 for the
 * second proxy), PGSWARM_IMAGE_PREFIX (pgswarm-chaos), PGSWARM_CHAOS_VERBOSE.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { machineInfo } from '../src/adapters/machine-info';
import { appRoleSql, ensureAppPasswordFile } from '../src/cli/app-role';
import { scramVerifier } from '../src/core/scram';
import { parseChaosArgs } from './chaos/args';
import { checkAcks, duplicateAcks, IdCounts } from './chaos/ack-check';
import { overlappingWindows, windowKey, writeWindows } from './chaos/write-windows';
import { dualPrimaryWindows, writableIntervals } from './chaos/probe-overlap';
import { errorKind, RunResult, summarize } from './chaos/summary';
import { ChaosStack, ROOT, Roles, sleep } from './chaos/swarm';
import { appQuery, ChaosWriter, TABLE, TABLE_DDL } from './chaos/writer';
import { NodeProber } from './chaos/prober';
import { makeSmallDisks, releaseSmallDisks } from './chaos/small-disks';
import { DEFAULT_SCENARIOS, RunCtx, Scenario, SCENARIOS } from './chaos/scenarios';

const STACK = process.env.PGSWARM_CHAOS_STACK || 'pgchaos';
const PORT = Number(process.env.PGSWARM_CHAOS_PORT || 15740);
const log = (m: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const USAGE = `usage: npm run chaos -- [--runs N] [--scenario a,b,…|all] [--results DIR] [--fresh] [--keep]
scenarios (default: every swarm scenario):
${SCENARIOS.map((s) => `  ${s.name.padEnd(26)} ${s.kind === 'not-run' ? '[not run] ' : s.kind === 'loopback' ? '[loopback] ' : ''}${s.what}`).join('\n')}`;

let deployedEnv: string | null = null;

function sameEnv(e: Record<string, string> | undefined): string {
  return JSON.stringify(Object.fromEntries(Object.entries(e ?? {}).sort(([a], [b]) => a.localeCompare(b))));
}

/** A healthy stack deployed with the scenario's environment: reuse, or down --volumes + up. */
async function ensureStack(s: ChaosStack, sc: Scenario, forceFresh: boolean): Promise<string | null> {
  const want = sameEnv(sc.deployEnv);
  if (!forceFresh && deployedEnv === want) {
    const why = await s.waitHealthy(180000);
    if (!why) return null;
    log(`stack not healthy (${why}): deploying it again from scratch`);
  }
  log(`fresh deploy of ${s.stack} with ${want}`);
  await s.down(true);
  await releaseSmallDisks(s.stack);
  const diskMb = Number(sc.deployEnv?.PGSWARM_CHAOS_SMALL_DISKS_MB || 0);
  if (diskMb) for (const d of await makeSmallDisks(s.stack, s.nodes.map((n) => `${n}_data`), diskMb)) log(`small disk: ${d}`);
  s.useScenarioEnv(sc.deployEnv);
  const up = await s.up();
  if (up.code !== 0) {
    // `up` also fails when only its last step (the app role, through docker exec) timed out on a busy machine.
    const why = await s.waitHealthy(240000);
    if (why) {
      deployedEnv = null;
      return `pgswarm up failed (rc ${up.code}): ${up.stderr.split('\n').slice(-8).join(' | ')}; then: ${why}`;
    }
    log(`pgswarm up exited ${up.code} (${up.stderr.trim().split('\n').pop()}) but the stack is healthy: making the app role here`);
    await ensureAppRoleAndTable(s, false);
  }
  deployedEnv = want;
  for (let i = 0; ; i++) {
    try {
      await appQuery({ dir: s.dir, ports: [s.port, s.port2] }, TABLE_DDL);
      break;
    } catch (e) {
      if (i >= 30) return `cannot create the chaos table through the proxy: ${(e as Error).message}`;
      await sleep(2000);
    }
  }
  const why = await s.waitHealthy(180000);
  return why ? `deployed but not healthy: ${why}` : null;
}

/** early-kill: a new cluster, deployed without waiting; app role and table made as soon as a primary exists. */
async function freshNoWait(s: ChaosStack, sc: Scenario): Promise<void> {
  await s.down(true);
  await releaseSmallDisks(s.stack);
  s.useScenarioEnv(sc.deployEnv);
  deployedEnv = null;
  const d = await s.deployNoWait();
  if (d.code !== 0) throw new Error(`deploy: ${d.stderr.slice(-500)}`);
  await ensureAppRoleAndTable(s, true);
}

/** The application role (as `pgswarm up` makes it) and the chaos table, as the superuser on the primary, retried. */
async function ensureAppRoleAndTable(s: ChaosStack, table: boolean): Promise<void> {
  const pw = ensureAppPasswordFile(s.dir);
  const end = Date.now() + 300000;
  for (;;) {
    const r = await s.roles().catch(() => null);
    const p = r?.primary && r.byNode[r.primary] === 'primary' ? r.primary : null;
    if (p) {
      try {
        await s.nodeSql(r!.containers[p], appRoleSql('app', scramVerifier(pw, randomBytes(16)), 'app'), 'app');
        if (table) await s.nodeSql(r!.containers[p], `${TABLE_DDL}; ALTER TABLE ${TABLE} OWNER TO app`, 'app');
        return;
      } catch (e) {
        log(`set-up SQL not yet: ${(e as Error).message.slice(0, 120)}`);
      }
    }
    if (Date.now() > end) throw new Error(`no primary within 300 s: ${JSON.stringify(r?.byNode)}`);
    await sleep(1000);
  }
}

async function readCounts(s: ChaosStack, container: string, runId: string): Promise<IdCounts> {
  const out = await s.nodeSql(container, `SELECT id, count(*) FROM ${TABLE} WHERE run = '${runId}' GROUP BY id`, 'app', 60000);
  const m: IdCounts = new Map();
  for (const line of out.split('\n')) {
    const [id, n] = line.split('|');
    if (id && n) m.set(Number(id), Number(n));
  }
  return m;
}

async function evidence(s: ChaosStack, r: Roles | null): Promise<string[]> {
  const out: string[] = [];
  for (const n of [...s.nodes, ...(s.witness ? [s.witness] : [])]) {
    const id = r?.containers[n] ?? (await s.container(n).catch(() => undefined));
    if (!id) continue;
    for (const l of await s.logTail(id, 600).catch(() => [])) out.push(`${n}: ${l}`);
  }
  return out.slice(-40);
}

async function runOnce(s: ChaosStack, sc: Scenario, runNo: number, prober: NodeProber): Promise<RunResult> {
  const res: RunResult = {
    run: runNo, ok: false, recoveryMs: null, longestGapMs: 0, check: null, duplicateAcks: [], ackOverlaps: [], probeDualPrimary: [],
    clientErrors: 0, clientErrorKinds: {}, primaryBefore: null, primaryAfter: null, failures: [], notes: [],
  };
  const runId = `${sc.name}-${Date.now()}`;
  const started = Date.now();
  if (sc.freshPerRun) await freshNoWait(s, sc);
  const before = await s.roles();
  res.primaryBefore = before.primary;
  const o = { dir: s.dir, ports: [s.port, s.port2] };
  const writers = [new ChaosWriter('w1', o, runId), new ChaosWriter('w2', { dir: s.dir, ports: [s.port2, s.port] }, runId)];
  writers.forEach((w) => w.start());
  const ctx: RunCtx = { s, before, writers, notes: res.notes };
  let healTimer: NodeJS.Timeout | undefined;
  let faultAt = 0;
  let healDone: Promise<void> = Promise.resolve();
  try {
    if (!sc.freshPerRun) {
      // Warm-up: the fault comes only once every writer has been acknowledged a few times, so the
      // recovery time never includes an outage that was there before the fault.
      const warm = Date.now() + 60000;
      await sleep(2000);
      while (writers.some((w) => w.acks.length < 5) && Date.now() < warm) await sleep(200);
      const counts = writers.map((w) => `${w.name} ${w.acks.length}`).join(', ');
      if (writers.some((w) => w.acks.length < 5)) throw new Error(`the writers were not acknowledged before the fault (${counts} acks in ${Math.round((Date.now() - started) / 1000)} s)`);
      res.notes.push(`before the fault: ${counts} acks`);
    }
    const inj = await sc.inject!(ctx);
    faultAt = inj.faultDone;
    res.primaryBefore = ctx.before.primary;
    if (inj.heal) {
      healDone = new Promise((resolve) => {
        healTimer = setTimeout(() => {
          inj.heal!().then(() => res.notes.push(`healed ${Date.now() - inj.faultDone} ms after the fault`), (e) => res.failures.push(`heal failed: ${(e as Error).message}`)).finally(resolve);
        }, inj.healAfterMs ?? 0);
      });
    }
    const recoveryWriters = writers.filter((w) => !sc.recoveryWriter || w.name === sc.recoveryWriter);
    const end = Date.now() + (sc.recoveryTimeoutMs ?? 90000);
    for (;;) {
      const firsts = recoveryWriters.map((w) => w.acks.find((a) => a.startedAt > inj.faultDone)?.at).filter((x): x is number => x !== undefined);
      if (firsts.length) {
        res.recoveryMs = Math.min(...firsts) - inj.faultDone;
        break;
      }
      if (Date.now() > end) {
        res.failures.push(`stuck: no acknowledged write within ${Math.round((sc.recoveryTimeoutMs ?? 90000) / 1000)} s after the fault`);
        break;
      }
      await sleep(100);
    }
    await healDone;
    await sleep(3000);
  } catch (e) {
    res.error = (e as Error).message;
    res.failures.push(`scenario error: ${res.error}`);
  } finally {
    if (healTimer) clearTimeout(healTimer);
    await healDone;
    await Promise.all(writers.map((w) => w.stop()));
  }
  const writersStopped = Date.now();
  const acks = writers.flatMap((w) => w.acks).sort((a, b) => a.at - b.at);
  const errors = writers.flatMap((w) => w.errors);
  res.clientErrors = errors.length;
  for (const e of errors) res.clientErrorKinds[errorKind(e.message)] = (res.clientErrorKinds[errorKind(e.message)] ?? 0) + 1;
  for (let i = 1; i < acks.length; i++) res.longestGapMs = Math.max(res.longestGapMs, acks[i].at - acks[i - 1].at);
  // an outage that lasts to the end of the run counts too
  if (acks.length) res.longestGapMs = Math.max(res.longestGapMs, writersStopped - acks[acks.length - 1].at);
  res.duplicateAcks = duplicateAcks(acks);
  // Compact ack timeline for later analysis: [ms after the fault of the ack, of the send, server/timeline]
  res.ackTimeline = acks.map((a) => [a.at - faultAt, a.startedAt - faultAt, windowKey(a)]);

  // The cluster must become whole again (one primary, two streaming standbys, both proxies healthy).
  const why = await s.waitHealthy(150000);
  if (why) res.failures.push(`not whole again 150 s after the run: ${why}`);
  const after = await s.roles().catch(() => null);
  res.primaryAfter = after?.primary ?? null;
  if (after?.primary) {
    const counts: Record<string, IdCounts> = {};
    const end = Date.now() + 30000;
    for (const n of s.nodes) {
      const id = after.containers[n];
      if (!id) continue;
      for (;;) {
        counts[n] = await readCounts(s, id, runId).catch(() => new Map());
        const missing = acks.filter((a) => !counts[n].has(a.id)).length;
        if (missing === 0 || n === after.primary || Date.now() > end) break;
        await sleep(1000);
      }
    }
    res.check = checkAcks(acks, after.primary, counts);
  } else {
    res.failures.push('no single primary at the end: nothing checked');
  }
  res.ackOverlaps = overlappingWindows(writeWindows(acks));
  const samples = prober.since(started);
  res.probeDualPrimary = dualPrimaryWindows(writableIntervals(samples));
  res.notes.push(`prober: ${s.nodes.map((n) => `${n} ${samples.filter((x) => x.node === n && x.ok).length}/${samples.filter((x) => x.node === n).length} answered`).join(', ')}`);
  const windows = writeWindows(acks);
  res.notes.push(`write windows: ${windows.map((w) => `${w.key} ${w.count} acks ${Math.round(w.to - w.from)} ms`).join('; ')}`);
  if (sc.noFailover) {
    if (res.primaryAfter !== res.primaryBefore) res.failures.push(`unexpected failover: ${res.primaryBefore} -> ${res.primaryAfter}`);
    if (new Set(windows.map((w) => w.key)).size > 1) res.failures.push(`writes acknowledged on more than one server/timeline: ${windows.map((w) => w.key).join(', ')}`);
  }
  const c = res.check;
  if (c && c.lost.length) res.failures.push(`${c.lost.length} acknowledged writes lost on the final primary ${after?.primary} (first ids ${c.lost.slice(0, 10).join(', ')})`);
  if (c) for (const [n, m] of Object.entries(c.missingByNode)) if (m.length && n !== after?.primary) res.failures.push(`standby ${n} misses ${m.length} acknowledged writes (first ids ${m.slice(0, 10).join(', ')})`);
  if (c) for (const [n, d] of Object.entries(c.duplicatesByNode)) if (d.length) res.failures.push(`${n} holds ${d.length} ids more than once`);
  if (res.ackOverlaps.length) res.failures.push(`split brain: ${JSON.stringify(res.ackOverlaps)}`);
  if (acks.length === 0) res.failures.push('no write acknowledged at all');
  res.ok = res.failures.length === 0;
  if (!res.ok) res.notes.push(...(await evidence(s, after)));
  // keep the JSON readable: long id lists cut to 20
  if (c) {
    c.lost = c.lost.slice(0, 20);
    for (const k of Object.keys(c.missingByNode)) c.missingByNode[k] = c.missingByNode[k].slice(0, 20);
    for (const k of Object.keys(c.duplicatesByNode)) c.duplicatesByNode[k] = c.duplicatesByNode[k].slice(0, 20);
  }
  return res;
}

function loopback(): Record<string, unknown> {
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'run-tap.js'), 'chaos'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const last = (r.stdout || '').trim().split('\n').pop() ?? '';
  const m = /^(\d+) passed, (\d+) failed/.exec(last);
  const failures = (r.stdout || '').split('\n').filter((l) => /^#\s+chaos\//.test(l) || /^not ok/.test(l)).slice(0, 20);
  return { kind: 'loopback (tap)', passed: m ? Number(m[1]) : null, failed: m ? Number(m[2]) : null, exitCode: r.status, seconds: Math.round((Date.now() - started) / 1000), failures };
}

async function main(): Promise<void> {
  const known = SCENARIOS.map((x) => x.name);
  const { args, errors } = parseChaosArgs(process.argv.slice(2), known, { scenarios: DEFAULT_SCENARIOS, resultsDir: path.join(ROOT, 'results', 'chaos') });
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (errors.length) {
    console.error(errors.join('\n') + '\n' + USAGE);
    process.exit(64);
  }
  fs.mkdirSync(args.resultsDir, { recursive: true });
  const s = new ChaosStack(STACK, PORT, PORT + 1, {});
  const prober = new NodeProber(s);
  prober.start();
  s.prober = prober;
  let failed = 0;
  let forceFresh = args.fresh;
  // A stack left by an earlier run (--keep) is reused when it was deployed with the same settings.
  const existing = args.fresh ? null : await s.deployedSettings();
  if (existing) deployedEnv = sameEnv(existing);
  const machine = machineInfo();
  for (const name of args.scenarios) {
    const sc = SCENARIOS.find((x) => x.name === name)!;
    const t0 = Date.now();
    const load0 = os.loadavg().map((x) => Math.round(x * 100) / 100);
    let summary: Record<string, unknown>;
    if (sc.kind === 'not-run') {
      summary = { scenario: sc.name, what: sc.what, notRun: sc.notRun };
    } else if (sc.kind === 'loopback') {
      log(`${sc.name}: node scripts/run-tap.js chaos`);
      const r = loopback();
      summary = { scenario: sc.name, what: sc.what, ...r };
      if (r.failed !== 0) failed++;
    } else {
      const runs: RunResult[] = [];
      let setupError: string | null = null;
      if (!sc.freshPerRun) {
        setupError = await ensureStack(s, sc, forceFresh);
        forceFresh = false;
      } else if (!fs.existsSync(path.join(s.dir, 'verify.key'))) {
        setupError = await ensureStack(s, sc, true); // secrets for the stack first
      }
      for (let i = 1; i <= args.runs && !setupError; i++) {
        log(`${sc.name}: run ${i}/${args.runs}`);
        if (!sc.freshPerRun) {
          const why = await s.waitHealthy(180000);
          if (why) {
            log(`${sc.name}: not healthy before run ${i} (${why}); redeploying`);
            setupError = await ensureStack(s, sc, true);
            if (setupError) break;
          }
        }
        const r = await runOnce(s, sc, i, prober);
        log(`${sc.name}: run ${i}: ${r.ok ? 'ok' : 'FAILED'} recovery ${r.recoveryMs} ms; ${r.check?.acknowledged ?? 0} acks, lost ${r.check?.lost.length ?? '?'}; ${r.failures.join(' | ').slice(0, 400)}`);
        runs.push(r);
        if (r.recoveryMs === null && i < args.runs) {
          log(`${sc.name}: stuck in run ${i}; not repeating it`);
          runs[runs.length - 1].notes.push(`remaining ${args.runs - i} runs skipped after this stuck run`);
          break;
        }
      }
      summary = summarize(sc.name, runs, { what: sc.what, deployEnv: sc.deployEnv ?? {}, ...(setupError ? { setupError } : {}) });
      if (setupError || runs.some((r) => !r.ok)) failed++;
    }
    const full = { ...summary, seconds: Math.round((Date.now() - t0) / 1000), machine, finishedAt: new Date().toISOString(), loadAverage: { start: load0, end: os.loadavg().map((x) => Math.round(x * 100) / 100) } };
    const file = path.join(args.resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${sc.name}.json`);
    fs.writeFileSync(file, JSON.stringify(full, null, 2) + '\n');
    const { perRun, ...short } = full as Record<string, unknown>;
    console.log(JSON.stringify({ ...short, file: path.relative(ROOT, file) }));
  }
  await prober.stop();
  if (!args.keep) {
    await s.down(true);
    await releaseSmallDisks(s.stack);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});

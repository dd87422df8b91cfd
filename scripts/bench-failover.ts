/**
 * bench:failover — on loopback, three real pgnode agents and one real pgproxy;
 * a writer inserts a uniquely numbered row through the proxy every 50 ms and
 * records every acknowledgement; the primary's whole process group (agent,
 * postmaster, repmgrd) is killed with SIGKILL N times. Per run: time from the
 * kill to the first acknowledged write on the new primary. At the end: every
 * acknowledged id is looked up on the final primary (lost = acknowledged but
 * absent; replication is asynchronous unless PGSWARM_SYNC_MODE is set).
 * Last stdout line: one JSON object. Env: BENCH_RUNS (default 5).
 */
import { NodeCluster } from '../test/helpers/node-cluster';
import { waitFor, sleep } from '../test/helpers/pg-tools';
import { AckWriter } from '../test/helpers/writer';
import { machineInfo } from '../src/adapters/machine-info';
import fs from 'node:fs';
import path from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main(): Promise<void> {
  const c = new NodeCluster('bench-failover', 15490 - 90); // ports 15401-15430 (lead's range), same as node tests: run alone
  // Any PGSWARM_* setting in the bench's environment is passed to the nodes (e.g. PGSWARM_RECONNECT_ATTEMPTS=1).
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('PGSWARM_') && v !== undefined) c.extraEnv[k] = v;
  const cleanup = () => c.teardown();
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await c.setup();
    fs.mkdirSync(path.join(c.dir, 'initdb.d'));
    fs.writeFileSync(path.join(c.dir, 'initdb.d', '01-app.sql'),
      "CREATE ROLE app LOGIN PASSWORD 'app-password';\nCREATE TABLE acks (id bigint PRIMARY KEY, at timestamptz DEFAULT now());\nGRANT INSERT, SELECT ON acks TO app;\n");
    c.startProxy();
    for (const n of c.nodes) c.start(n);
    for (const n of c.nodes) await c.waitRunning(n, 180000);
    await waitFor('proxy routing', async () => c.routedTo(), 60000);
    const w = new AckWriter(() => c.proxyClient(), 'acks', 50);
    w.start();
    await waitFor('writes flowing', async () => w.acked.length > 20, 30000);
    const runs: { run: number; killed: string; promoted: string; rto_ms: number; failed_attempts: number }[] = [];
    for (let i = 1; i <= RUNS; i++) {
      // every standby streaming before the kill (pitfall 6: don't measure a never-streamed promotion)
      const primaryName = (await c.routedTo())!;
      const primary = c.nodes.find((n) => n.name === primaryName)!;
      await waitFor('both standbys streaming', async () => {
        const r = await c.query<{ n: number }>(primary, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'");
        return r[0].n === 2;
      }, 60000);
      await sleep(1000);
      const errorsBefore = w.errors.length;
      const killedAt = Date.now();
      await c.kill(primary);
      const ack = await waitFor('first acknowledged write after the kill', async () => w.firstAckAfter(killedAt), 120000, 20);
      const promoted = (await waitFor('new route', async () => {
        const r = await c.routedTo();
        return r && r !== primaryName ? r : null;
      }, 60000)) as string;
      runs.push({ run: i, killed: primaryName, promoted, rto_ms: ack - killedAt, failed_attempts: w.errors.length - errorsBefore });
      process.stderr.write(`run ${i}: killed ${primaryName}, ${promoted} promoted, first acknowledged write after ${ack - killedAt} ms\n`);
      c.start(primary);
      await c.waitRunning(primary, 180000);
    }
    await sleep(2000);
    await w.stop();
    const finalName = (await c.routedTo())!;
    const final = c.nodes.find((n) => n.name === finalName)!;
    const ids = new Set((await c.query<{ id: string }>(final, 'SELECT id FROM acks')).map((r) => Number(r.id)));
    const lost = w.acked.filter((a) => !ids.has(a.id)).length;
    const rtos = runs.map((r) => r.rto_ms);
    const out = {
      bench: 'failover',
      where: 'loopback: 3 pgnode agents on 127.0.0.1-3, 1 pgproxy; kill -9 of the primary agent + postmaster + repmgrd',
      sync_mode: process.env.PGSWARM_SYNC_MODE ?? 'async',
      node_settings: c.extraEnv,
      runs: runs.length,
      per_run: runs,
      p50_ms: pct(rtos, 50),
      p95_ms: pct(rtos, 95),
      max_ms: Math.max(...rtos),
      acknowledged: w.acked.length,
      lost_acknowledged: lost,
      failed_write_attempts: w.errors.length,
      machine: machineInfo(),
    };
    console.log(JSON.stringify(out));
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`bench-failover: ${(e as Error).stack}\n`);
  process.exit(1);
});

/**
 * Asks every node directly, about every 200 ms, whether it is a primary that
 * can acknowledge commits. One long-running `node` process per node container
 * (docker exec), holding one superuser connection to its own PostgreSQL over
 * 127.0.0.1 (so it keeps answering when the container is cut off from the
 * overlay network), printing one JSON line per sample. A container replaced by
 * Swarm is picked up within a second.
 */
import { PassThrough } from 'node:stream';
import type { ChaosStack } from './swarm';
import type { ProbeSample } from './probe-overlap';

const PROBE = `
const { Client } = require('/opt/pgswarm/node_modules/pg');
const fs = require('fs');
const pw = fs.readFileSync(process.env.POSTGRES_PASSWORD_FILE, 'utf8').trim();
const SQL = "SELECT pg_is_in_recovery() AS rec, CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver) "
  + "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tl, "
  + "current_setting('synchronous_standby_names') AS ssn, "
  + "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum'))::int AS syncs, "
  + "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')::int AS streaming";
let c = null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  for (;;) {
    const t = Date.now();
    try {
      if (!c) {
        c = new Client({ host: '127.0.0.1', port: 5432, user: process.env.POSTGRES_USER || 'postgres', database: 'postgres', password: pw,
          ssl: { rejectUnauthorized: false }, connectionTimeoutMillis: 1000, query_timeout: 1000, application_name: 'chaos-prober' });
        c.on('error', () => {});
        await c.connect();
      }
      const r = (await c.query(SQL)).rows[0];
      console.log(JSON.stringify({ t, ok: true, rec: r.rec, tl: r.tl, ssn: r.ssn, syncs: r.syncs, streaming: r.streaming }));
    } catch (e) {
      console.log(JSON.stringify({ t, ok: false, err: String(e.message).slice(0, 120) }));
      const o = c; c = null; if (o) o.end().catch(() => {});
    }
    await sleep(Math.max(0, 200 - (Date.now() - t)));
  }
})();
`;

export class NodeProber {
  samples: ProbeSample[] = [];
  private running = false;
  private probing = new Map<string, string>(); // node -> container id
  private streams: NodeJS.ReadableStream[] = [];
  private loopDone?: Promise<void>;

  constructor(private readonly s: ChaosStack) {}

  start(): void {
    this.running = true;
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      for (const n of this.s.nodes) {
        const id = await this.s.container(n).catch(() => undefined);
        if (id && this.probing.get(n) !== id) await this.attach(n, id).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async attach(node: string, id: string): Promise<void> {
    const ex = await this.s.docker.api.getContainer(id).exec({ Cmd: ['node', '-e', PROBE], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    this.probing.set(node, id);
    this.streams.push(stream);
    const out = new PassThrough();
    let buf = '';
    out.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line);
          this.samples.push({ node, t: j.t, ok: j.ok, inRecovery: j.rec, timeline: j.tl ?? null, ssn: j.ssn, syncStreaming: j.syncs, streaming: j.streaming });
        } catch {
          /* not a sample */
        }
      }
    });
    this.s.docker.api.modem.demuxStream(stream, out, new PassThrough());
    const end = () => {
      if (this.probing.get(node) === id) this.probing.delete(node);
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  /** The newest sample of a node, if it is at most maxAgeMs old. */
  latest(node: string, maxAgeMs = 3000): ProbeSample | undefined {
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const x = this.samples[i];
      if (x.node !== node) continue;
      return Date.now() - x.t <= maxAgeMs ? x : undefined;
    }
    return undefined;
  }

  /** Container the prober currently watches for a node. */
  containerOf(node: string): string | undefined {
    return this.probing.get(node);
  }

  /** Samples from t on. */
  since(t: number): ProbeSample[] {
    return this.samples.filter((x) => x.t >= t);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
    for (const st of this.streams) (st as any).destroy?.();
    // the probe processes in the containers end when their exec stream closes? Not necessarily: kill them.
    for (const n of this.s.nodes) {
      const id = await this.s.container(n).catch(() => undefined);
      if (id) await this.s.docker.exec(id, ['sh', '-c', 'for p in /proc/[0-9]*; do c=$(tr "\\0\\n" "  " < $p/cmdline 2>/dev/null); case "$c" in "node -e "*chaos-prober*) kill ${p#/proc/};; esac; done; true'], { timeoutMs: 10000 }).catch(() => undefined);
    }
  }
}

/**
 * A client of the published proxy ports: one uniquely numbered INSERT every
 * everyMs, each acknowledgement recorded with the server address and timeline
 * that accepted it (RETURNING). Connects to its preferred proxy port first and
 * to the other one when that fails (like libpq's host list). A write that
 * fails or times out is an error, never an acknowledgement.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Ack } from './ack-check';

let seq = Date.now() * 100; // unique across runs and processes (fewer than 100 ids per ms)
export const nextId = () => ++seq;

export const TABLE = 'chaos_acks';
export const TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${TABLE} (
  run text NOT NULL, id bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  srv text NOT NULL DEFAULT host(inet_server_addr()),
  tl int NOT NULL DEFAULT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int);
CREATE INDEX IF NOT EXISTS ${TABLE}_run_id ON ${TABLE} (run, id)`;

export interface ClientOpts {
  dir: string;
  ports: number[];
}

export function clientConfig(o: ClientOpts, port: number): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port,
    user: 'app',
    database: 'app',
    password: fs.readFileSync(path.join(o.dir, 'app.password'), 'utf8').trim(),
    ssl: { ca: fs.readFileSync(path.join(o.dir, 'ca.crt'), 'utf8'), rejectUnauthorized: true },
    connectionTimeoutMillis: 2000,
    query_timeout: 5000,
  };
}

export class ChaosWriter {
  acks: Ack[] = [];
  errors: { at: number; message: string }[] = [];
  private stopped = false;
  private done?: Promise<void>;

  constructor(readonly name: string, private readonly o: ClientOpts, private readonly run: string, private readonly everyMs = 50) {}

  start(): void {
    this.done = this.loop();
  }

  private async connect(): Promise<pg.Client> {
    let last: Error = new Error('no port');
    for (const port of this.o.ports) {
      const c = new pg.Client(clientConfig(this.o, port));
      c.on('error', () => undefined);
      try {
        await c.connect();
        return c;
      } catch (e) {
        last = e as Error;
        await c.end().catch(() => undefined);
      }
    }
    throw last;
  }

  private async loop(): Promise<void> {
    let c: pg.Client | null = null;
    while (!this.stopped) {
      const t0 = Date.now();
      const id = nextId();
      try {
        if (!c) c = await this.connect();
        const startedAt = Date.now();
        const r = await c.query(
          `INSERT INTO ${TABLE} (run, id) VALUES ($1, $2) RETURNING srv, tl, (extract(epoch FROM at) * 1000)::float8 AS at_ms`,
          [this.run, id],
        );
        const row = r.rows[0];
        this.acks.push({ id, startedAt, at: Date.now(), srv: row.srv, tl: Number(row.tl), serverAt: Number(row.at_ms), writer: this.name });
      } catch (e) {
        this.errors.push({ at: Date.now(), message: (e as Error).message });
        const old = c;
        c = null;
        await old?.end().catch(() => undefined);
      }
      const wait = this.everyMs - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await c?.end().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** One-off statement through a proxy as the application role. */
export async function appQuery(o: ClientOpts, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client(clientConfig(o, o.ports[0]));
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Helpers for the e2e tier: drive the real `pgswarm` CLI and Docker, and a
 * writer that records every acknowledged write through the published proxy
 * port (TLS verify-full against the cluster CA).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { DockerClient } from '../../src/adapters/docker';
import { closeClient } from '../../src/adapters/pg-connect';
import { stackRoles, StackRoles } from '../../src/adapters/stack-roles';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'bin', 'pgswarm.js');
/** Own stack name and host ports (15700-15799 belong to this tier). */
export const STACK = process.env.PGSWARM_E2E_STACK || 'pgse2e';
export const PORT = Number(process.env.PGSWARM_E2E_PORT || 15732);
export const PORT2 = PORT + 1;
export const DIR = process.env.PGSWARM_E2E_DIR || `/tmp/pgswarm-e2e-${STACK}`;
export const docker = new DockerClient();

export const e2eEnv: NodeJS.ProcessEnv = { ...process.env, PGSWARM_PORT: String(PORT), PGSWARM_PORT2: String(PORT2) };

export interface RunOut {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command; output captured (and mirrored as TAP comments when verbose). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunOut> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? e2eEnv, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.PGSWARM_E2E_VERBOSE) process.stdout.write(String(d).split('\n').filter(Boolean).map((l) => `# ${l}`).join('\n') + '\n');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export function cli(args: string[], timeoutMs = 600000): Promise<RunOut> {
  return run(process.execPath, [CLI, ...args, '--stack', STACK, '--dir', DIR], { timeoutMs });
}

export function secretFile(name: string): string {
  return fs.readFileSync(path.join(DIR, name), 'utf8').trim();
}

export function clientConfig(port = PORT, extra: Partial<pg.ClientConfig> = {}): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port,
    user: 'app',
    database: 'app',
    password: secretFile('app.password'),
    ssl: { ca: fs.readFileSync(path.join(DIR, 'ca.crt'), 'utf8'), rejectUnauthorized: true },
    connectionTimeoutMillis: 3000,
    query_timeout: 5000,
    ...extra,
  };
}

export async function query<T = any>(sql: string, params: unknown[] = [], port = PORT): Promise<T[]> {
  const c = new pg.Client(clientConfig(port));
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await closeClient(c);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retries fn until it returns a truthy value or the deadline passes; returns the last value. */
/** The last error `until` swallowed, for the failure message. */
export let lastUntilError = '';

export async function until<T>(fn: () => Promise<T>, timeoutMs: number, stepMs = 1000): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastUntilError = (e as Error).message;
    }
    if (Date.now() > end) return undefined;
    await sleep(stepMs);
  }
}

/**
 * Continuous writer: one uniquely numbered INSERT every intervalMs through
 * the proxy; every acknowledged id is recorded with its time. Reconnects on
 * error with short timeouts (a dead address hangs instead of refusing).
 */
export class Writer {
  acked: { id: number; at: number; sentAt: number }[] = [];
  errors = 0;
  private next = 1;
  private running = false;
  private loop?: Promise<void>;
  private client?: pg.Client;

  constructor(private readonly table: string, private readonly intervalMs = 50, private readonly startId = 1) {
    this.next = startId;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async connect(): Promise<pg.Client> {
    const c = new pg.Client(clientConfig(PORT, { connectionTimeoutMillis: 2000, query_timeout: 3000 }));
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      try {
        if (!this.client) this.client = await this.connect();
        const id = this.next++;
        const sentAt = Date.now();
        await this.client.query(`INSERT INTO ${this.table} (id) VALUES ($1)`, [id]);
        this.acked.push({ id, at: Date.now(), sentAt });
      } catch {
        this.errors++;
        const c = this.client;
        this.client = undefined;
        await closeClient(c);
      }
      const wait = this.intervalMs - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await closeClient(this.client);
  }

  /** Acknowledgement time of the first write *sent* at or after t: a write in flight at t may still be acked by the old primary. */
  firstAckAfter(t: number): number | undefined {
    return this.acked.find((a) => a.sentAt >= t)?.at;
  }
}

/** Current primary as the nodes report it, and each node's role (docker exec current-primary). */
export function roles(): Promise<StackRoles> {
  return stackRoles(docker, STACK, ['pgnode1', 'pgnode2', 'pgnode3'], 8000);
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** SQL as the superuser inside the primary's container (superusers cannot log in through the proxies). */
export async function superSql(sql: string, database = 'postgres'): Promise<string> {
  const r = await roles();
  const c = r.primary ? r.containers[r.primary] : undefined;
  if (!c) throw new Error(`no primary container (${JSON.stringify(r.byNode)})`);
  const script = 'PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" exec "$PGSWARM_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At '
    + '"host=$PGSWARM_NODE_NAME port=5432 dbname=$1 user=${POSTGRES_USER:-postgres} sslmode=verify-full sslrootcert=$PGSWARM_CA_CERT_FILE connect_timeout=5" -c "$2"';
  const x = await docker.exec(c, ['sh', '-c', script, 'psql', database, sql], { timeoutMs: 30000 });
  if (x.code !== 0) throw new Error(`psql: ${x.stderr.trim()}`);
  return x.stdout;
}

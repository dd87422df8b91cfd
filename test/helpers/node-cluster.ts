import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { createCa, ensureCertificate } from '../../src/adapters/tls-issuer';
import { scramVerifier } from '../../src/core/scram';
import { generateSigningKeyPair } from '../../src/core/signing';
import { createToken } from '../../src/core/join-token';
import { testDir, pgBin, postgresIds, waitFor, sleep } from './pg-tools';
import { closeClient } from '../../src/adapters/pg-connect';

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const PGNODE = path.join(ROOT, 'dist', 'src', 'bin', 'pgnode.js');
export const PGPROXY = path.join(ROOT, 'dist', 'src', 'bin', 'pgproxy.js');

/** Every process below `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: number[] = [];
    try {
      kids = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      kids = [];
    }
    for (const k of kids) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

export interface TestNode {
  name: string;
  id: number;
  host: string;
  port: number;
  setupPort: number;
  sshPort: number;
  home: string;
  logFile: string;
  proc?: ChildProcess;
  exit?: Promise<number | null>;
}

/** Options of a test cluster; the defaults are the three data nodes every existing test uses. */
export interface ClusterOptions {
  /** Number of data nodes [3]. */
  dataNodes?: number;
  /** Add a witness (PGSWARM_ROLE=witness, referee without data) on the next loopback address [false]. */
  witness?: boolean;
}

/** A three-node cluster of real pgnode agents on 127.0.0.1-3, plus a stand-in PgBouncer with a hand-written config. */
export class NodeCluster {
  dir: string;
  ca!: { cert: string; key: string };
  secrets: Record<string, string> = {};
  passwords = { postgres: randomBytes(12).toString('hex'), repmgr: randomBytes(12).toString('hex'), stats: randomBytes(12).toString('hex'), enroll: randomBytes(12).toString('hex'), auth: randomBytes(12).toString('hex') };
  signing = generateSigningKeyPair();
  nodes: TestNode[];
  /** The witness, when the cluster was made with { witness: true }. */
  witness?: TestNode;
  bouncer?: ChildProcess;
  bouncerPort: number;
  extraEnv: Record<string, string> = {};

  constructor(prefix: string, base: number, opts: ClusterOptions = {}) {
    this.dir = testDir(prefix);
    this.bouncerPort = base + 30;
    const count = opts.dataNodes ?? 3;
    const mk = (i: number, name: string): TestNode => ({
      name,
      id: i,
      host: `127.0.0.${i}`,
      port: base + i,
      setupPort: base + 10 + i,
      sshPort: base + 20,
      home: path.join(this.dir, name),
      logFile: path.join(this.dir, `${name}.log`),
    });
    if (opts.witness) this.witness = mk(count + 1, 'w1');
    this.nodes = Array.from({ length: count }, (_, k) => k + 1).map((i) => ({
      name: `n${i}`,
      id: i,
      host: `127.0.0.${i}`,
      port: base + i,
      setupPort: base + 10 + i,
      sshPort: base + 20, // one ssh port, distinct loopback addresses (repmgr's ssh_options name a single port)
      home: path.join(this.dir, `n${i}`),
      logFile: path.join(this.dir, `n${i}.log`),
    }));
  }

  async setup(): Promise<void> {
    this.ca = await createCa(path.join(this.dir, 'ca'));
    fs.chmodSync(path.join(this.dir, 'ca'), 0o755);
    fs.chmodSync(this.ca.cert, 0o644);
    const sdir = path.join(this.dir, 'secrets');
    fs.mkdirSync(sdir, { mode: 0o700 });
    for (const [k, v] of Object.entries(this.passwords)) {
      const f = path.join(sdir, `${k}.pw`);
      fs.writeFileSync(f, v + '\n', { mode: 0o600 });
      this.secrets[k] = f;
    }
    const sk = path.join(sdir, 'signing.key');
    fs.writeFileSync(sk, this.signing.secretKey + '\n', { mode: 0o600 });
    this.secrets.signing = sk;
  }

  peers(): string {
    return this.nodes.map((n) => `${n.name}@${n.host}:${n.port}:${n.sshPort}`).join(',');
  }

  /** PGSWARM_WITNESS as every node and proxy is given it ({} without a witness). */
  witnessSetting(): Record<string, string> {
    const w = this.witness;
    return w ? { PGSWARM_WITNESS: `${w.name}@${w.host}:${w.port}:${w.sshPort}` } : {};
  }

  /** Settings every member takes, witness or data node. */
  private commonEnv(n: TestNode): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PGSWARM_NODE_NAME: n.name,
      PGSWARM_NODE_ID: String(n.id),
      PGSWARM_PEERS: this.peers(),
      PGSWARM_LISTEN_ADDRESSES: n.host,
      PGSWARM_SETUP_PORT: String(n.setupPort),
      PGSWARM_HOME: n.home,
      PGSWARM_PG_BINDIR: pgBin(),
      POSTGRES_PASSWORD_FILE: this.secrets.postgres,
      PGSWARM_REPMGR_PASSWORD_FILE: this.secrets.repmgr,
      PGSWARM_SIGNING_KEY_FILE: this.secrets.signing,
      PGSWARM_VERIFY_KEY: this.signing.publicKey,
      PGSWARM_KEY_SYNC_INTERVAL_MS: '1000',
      PGSWARM_CA_CERT_FILE: this.ca.cert,
      PGSWARM_CA_KEY_FILE: this.ca.key,
      // the proxy here is reached as 127.0.0.1 (by the nodes and the test's clients): the operator allows that name
      PGSWARM_PROXY_CERT_NAMES: '127.0.0.1,localhost',
      PGSWARM_WAIT_RETRY_MS: '1000',
      PGSWARM_LOG_LEVEL: 'info',
      ...this.witnessSetting(),
    };
  }

  /** The witness's environment: no data-node settings (it would refuse them). */
  witnessEnv(w: TestNode): Record<string, string> {
    return { ...this.commonEnv(w), PGSWARM_ROLE: 'witness' };
  }

  env(n: TestNode): Record<string, string> {
    if (n === this.witness) return this.witnessEnv(n);
    return {
      ...this.commonEnv(n),
      PGSWARM_PROXIES: `127.0.0.1:${this.bouncerPort}`,
      PGSWARM_BOOTSTRAP_NODE: 'n1',
      POSTGRES_DB: 'app',
      PGSWARM_STATS_PASSWORD_FILE: this.secrets.stats,
      PGSWARM_ENROLL_PASSWORD_FILE: this.secrets.enroll,
      PGSWARM_AUTH_PASSWORD_FILE: this.secrets.auth,
      PGSWARM_INITDB_SCRIPTS: path.join(this.dir, 'initdb.d'),
      ...this.extraEnv,
    };
  }

  start(n: TestNode, env: Record<string, string> = this.env(n)): void {
    const out = fs.openSync(n.logFile, 'a');
    const p = spawn(process.execPath, [PGNODE], { env, stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    n.proc = p;
    n.exit = new Promise((r) => p.on('exit', (code) => r(code)));
  }

  /** SIGTERM, as `docker stop` does. */
  async stop(n: TestNode): Promise<number | null> {
    if (!n.proc || n.proc.exitCode !== null) return n.proc?.exitCode ?? null;
    n.proc.kill('SIGTERM');
    return n.exit!;
  }

  /**
   * SIGKILL the agent and every process under it at once, as `docker kill` does to a
   * container's cgroup. A process-group kill is not enough: PostgreSQL backends call
   * setsid(), and a backend that outlives its postmaster by a few ms can still commit.
   */
  async kill(n: TestNode): Promise<void> {
    if (!n.proc?.pid) return;
    const all = descendants(n.proc.pid);
    for (const pid of [n.proc.pid, ...all]) {
      try {
        process.kill(pid, 'SIGSTOP'); // freeze first, so nothing forks or commits while we collect
      } catch {
        /* gone */
      }
    }
    for (const pid of [n.proc.pid, ...descendants(n.proc.pid), ...all]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      process.kill(-n.proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await n.exit;
    // postgres children of a SIGKILLed postmaster exit on their own; wait for the port to close
    await waitFor(`${n.name} processes gone`, async () => {
      try {
        execFileSync('pgrep', ['-g', String(n.proc!.pid)]);
        return false;
      } catch {
        return true;
      }
    }, 20000);
  }

  client(n: TestNode, opts: { user?: string; password?: string; database?: string; ssl?: boolean } = {}): Client {
    const c = new Client({
      host: n.host,
      port: n.port,
      user: opts.user ?? 'postgres',
      password: opts.password ?? this.passwords.postgres,
      database: opts.database ?? 'app',
      connectionTimeoutMillis: 3000,
      ssl: opts.ssl === false ? false : { ca: fs.readFileSync(this.ca.cert, 'utf8'), rejectUnauthorized: true },
    });
    c.on('error', () => undefined);
    return c;
  }

  async query<T = Record<string, unknown>>(n: TestNode, sql: string, params: unknown[] = [], database = 'app'): Promise<T[]> {
    const c = this.client(n, { database });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await closeClient(c);
    }
  }

  async inRecovery(n: TestNode): Promise<boolean | null> {
    try {
      const r = await this.query<{ r: boolean }>(n, 'SELECT pg_is_in_recovery() AS r');
      return r[0].r;
    } catch {
      return null;
    }
  }

  /** The first of `among` that runs as primary (not in recovery), waited for. */
  waitPrimary(among: readonly TestNode[], timeoutMs = 30000): Promise<TestNode> {
    return waitFor(`a primary among ${among.map((n) => n.name).join(', ')}`, async () => {
      for (const s of among) if ((await this.inRecovery(s)) === false) return s;
      return null;
    }, timeoutMs, 200);
  }

  state(n: TestNode): { phase?: string; decision?: { action: string; rule: string; reason: string } } {
    try {
      return JSON.parse(fs.readFileSync(path.join(n.home, 'state', 'state.json'), 'utf8'));
    } catch {
      return {};
    }
  }

  async waitRunning(n: TestNode, timeoutMs = 120000): Promise<void> {
    await waitFor(`${n.name} running`, async () => {
      if (n.proc && n.proc.exitCode !== null) throw new Error(`${n.name} exited with ${n.proc.exitCode}; log tail: ${this.logTail(n)}`);
      return this.state(n).phase === 'running' && (await this.inRecovery(n)) !== null;
    }, timeoutMs, 300);
  }

  logTail(n: TestNode, lines = 15): string {
    try {
      return fs.readFileSync(n.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  logEvents(n: TestNode): Record<string, unknown>[] {
    return fs.readFileSync(n.logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
  }

  // --- the stand-in proxy: a real PgBouncer with a hand-written config, repointed by the test

  bouncerDir(): string {
    return path.join(this.dir, 'bouncer');
  }

  async startBouncer(): Promise<void> {
    const d = this.bouncerDir();
    fs.mkdirSync(d, { recursive: true });
    const ids = postgresIds();
    const tls = await ensureCertificate({ dir: path.join(d, 'tls'), name: 'bouncer', altNames: ['127.0.0.1', 'localhost'], caCert: this.ca.cert, caKey: this.ca.key, owner: ids });
    // stats user only; SCRAM verifier, not a plaintext password
    fs.writeFileSync(path.join(d, 'userlist.txt'), `"pgswarm_stats" "${scramVerifier(this.passwords.stats, randomBytes(16))}"\n`, { mode: 0o600 });
    fs.chownSync(path.join(d, 'userlist.txt'), ids.uid, ids.gid);
    this.writeBouncerIni(null);
    fs.chownSync(d, ids.uid, ids.gid);
    const out = fs.openSync(path.join(this.dir, 'bouncer.log'), 'a');
    this.bouncer = spawn('/usr/sbin/pgbouncer', [path.join(d, 'pgbouncer.ini')], { uid: ids.uid, gid: ids.gid, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    void tls;
    await waitFor('pgbouncer listening', async () => {
      const r = await this.bouncerAdmin('SHOW VERSION').catch(() => null);
      return !!r;
    }, 15000);
  }

  writeBouncerIni(primary: TestNode | null): void {
    const d = this.bouncerDir();
    const ini = `[databases]
${primary ? `app = host=${primary.host} port=${primary.port} dbname=app` : ''}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${this.bouncerPort}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${d}/userlist.txt
admin_users =
stats_users = pgswarm_stats
client_tls_sslmode = require
client_tls_key_file = ${d}/tls/server.key
client_tls_cert_file = ${d}/tls/server.crt
server_tls_sslmode = verify-full
server_tls_ca_file = ${this.ca.cert}
pidfile = ${d}/pgbouncer.pid
`;
    fs.writeFileSync(path.join(d, 'pgbouncer.ini'), ini);
  }

  async bouncerAdmin(sql: string): Promise<Record<string, unknown>[]> {
    const c = new Client({ host: '127.0.0.1', port: this.bouncerPort, user: 'pgswarm_stats', password: this.passwords.stats, database: 'pgbouncer', connectionTimeoutMillis: 2000, ssl: { ca: fs.readFileSync(this.ca.cert, 'utf8'), rejectUnauthorized: true } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await closeClient(c);
    }
  }

  /** Acts as the proxy agent would: route to `primary` and reload (SIGHUP). */
  async repoint(primary: TestNode | null): Promise<void> {
    this.writeBouncerIni(primary);
    this.bouncer?.kill('SIGHUP');
    await sleep(300);
  }

  // --- the real pgproxy sidecar (agent + PgBouncer), enrolled with a join token

  proxy?: ChildProcess;
  proxyExit?: Promise<number | null>;

  proxyEnv(): Record<string, string> {
    const tokenFile = path.join(this.dir, 'secrets', 'join-token');
    if (!fs.existsSync(tokenFile)) {
      fs.writeFileSync(tokenFile, createToken({ kind: 'proxy', name: 'p1', ttlSeconds: 3600 }, this.signing.secretKey, Date.now()) + '\n', { mode: 0o600 });
    }
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PGSWARM_PROXY_NAME: 'p1',
      PGSWARM_PEERS: this.peers(),
      PGSWARM_PROXY_LISTEN_ADDR: '127.0.0.1',
      PGSWARM_PROXY_PORT: String(this.bouncerPort),
      PGSWARM_PROXY_HOME: path.join(this.dir, 'p1'),
      PGSWARM_PROXY_HEALTH_DIR: path.join(this.dir, 'p1-health'),
      PGSWARM_CA_CERT_FILE: this.ca.cert,
      // no CA key: a node issues the proxy's certificate from its CSR at enrollment
      PGSWARM_AUTH_PASSWORD_FILE: this.secrets.auth,
      PGSWARM_STATS_PASSWORD_FILE: this.secrets.stats,
      PGSWARM_ENROLL_PASSWORD_FILE: this.secrets.enroll,
      PGSWARM_JOIN_TOKEN_FILE: tokenFile,
      PGSWARM_VERIFY_KEY: this.signing.publicKey,
      PGSWARM_POLL_INTERVAL_MS: '300',
      PGSWARM_SSH_TIMEOUT_MS: '2500',
      PGSWARM_QUERY_WAIT_TIMEOUT_SECS: '30',
      PGSWARM_LOG_LEVEL: 'info',
      ...this.witnessSetting(),
    };
  }

  startProxy(): void {
    const out = fs.openSync(path.join(this.dir, 'p1.log'), 'a');
    const p = spawn(process.execPath, [PGPROXY], { env: this.proxyEnv(), stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    this.proxy = p;
    this.proxyExit = new Promise((r) => p.on('exit', (code) => r(code)));
  }

  async stopProxy(): Promise<number | null> {
    if (!this.proxy || this.proxy.exitCode !== null) return this.proxy?.exitCode ?? null;
    this.proxy.kill('SIGTERM');
    return this.proxyExit!;
  }

  /** Which member the proxy's PgBouncer routes to (null: none / paused / unreachable). */
  async routedTo(): Promise<string | null> {
    try {
      const rows = await this.bouncerAdmin('SHOW DATABASES');
      const hosts = rows.filter((r) => r.name !== 'pgbouncer' && r.host && Number(r.paused ?? 0) === 0).map((r) => `${r.host}:${r.port}`);
      const m = this.nodes.find((n) => hosts.includes(`${n.host}:${n.port}`));
      return m ? m.name : null;
    } catch {
      return null;
    }
  }

  /** A client of the proxy: the app role over verified TLS. */
  /** A TLS client of the stand-in proxy; `timeouts` shortens the connect and query limits (a write that times out is never counted as acknowledged). */
  proxyClient(user = 'app', password = 'app-password', timeouts: { connectMs?: number; queryMs?: number } = {}): Client {
    const c = new Client({ host: '127.0.0.1', port: this.bouncerPort, user, password, database: 'app', connectionTimeoutMillis: timeouts.connectMs ?? 5000, query_timeout: timeouts.queryMs ?? 40000, ssl: { ca: fs.readFileSync(this.ca.cert, 'utf8'), rejectUnauthorized: true } });
    c.on('error', () => undefined);
    return c;
  }

  async teardown(): Promise<void> {
    if (this.proxy && this.proxy.exitCode === null) {
      try {
        process.kill(-this.proxy.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const n of this.witness ? [...this.nodes, this.witness] : this.nodes) {
      if (n.proc && n.proc.exitCode === null) {
        try {
          process.kill(-n.proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    this.bouncer?.kill('SIGKILL');
    // leftover postgres from a killed agent group
    try {
      execFileSync('pkill', ['-9', '-f', `${this.dir}/`]);
    } catch {
      /* none */
    }
  }
}

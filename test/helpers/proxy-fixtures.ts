/**
 * Fixtures for the proxy's integration test and bench: a throwaway CA, plain
 * PostgreSQL 15 servers with TLS on (hostssl + scram-sha-256 only) run as the
 * postgres user, standbys made with pg_basebackup over verify-full TLS, and an
 * `askNode` double that answers from the REAL servers' state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { childProcessRunner } from '../../src/adapters/child-process-runner';
import { lookupUser } from '../../src/adapters/os-users';
import { createCa, ensureCertificate } from '../../src/adapters/tls-issuer';
import { AskResult, parseNodeAnswer } from '../../src/core/node-answer';
import type { Member } from '../../src/core/node-config';
import { closeClient } from '../../src/adapters/pg-connect';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const SUPER_PW = 'super-secret-pw';

export async function run(cmd: string, args: string[], opts: { user?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const r = await childProcessRunner.run(cmd, args, { user: opts.user, env: { ...process.env, ...(opts.env ?? {}) }, timeoutMs: opts.timeoutMs ?? 60000 });
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export interface Tls { caCert: string; caKey: string; dir: string; serverCert: string; serverKey: string }

export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(`/tmp/${prefix}-`);
  const pg = lookupUser('postgres');
  fs.chmodSync(dir, 0o755);
  fs.chownSync(dir, pg.uid, pg.gid);
  return dir;
}

/** A CA (key stays root-only in dir/ca) and one server certificate for 127.0.0.1 + "pgserver" owned by postgres. */
export async function makeTls(dir: string): Promise<Tls> {
  const ca = await createCa(path.join(dir, 'ca'), 'pgswarm test CA');
  const pg = lookupUser('postgres');
  const caCert = path.join(dir, 'ca.crt');
  fs.copyFileSync(ca.cert, caCert);
  fs.chmodSync(caCert, 0o644);
  const issued = await ensureCertificate({ dir: path.join(dir, 'pgtls'), name: 'pgserver', altNames: ['127.0.0.1'], caCert, caKey: ca.key, owner: pg });
  return { caCert, caKey: ca.key, dir, serverCert: issued.cert, serverKey: issued.key };
}

export interface PgInstance { name: string; port: number; data: string; sock: string; log: string }

function writeAs(file: string, content: string, mode = 0o600): void {
  const pg = lookupUser('postgres');
  fs.writeFileSync(file, content, { mode });
  fs.chownSync(file, pg.uid, pg.gid);
}

function confFor(inst: PgInstance, tls: Tls, extra: string): string {
  return `
listen_addresses = '127.0.0.1'
port = ${inst.port}
unix_socket_directories = '${inst.sock}'
ssl = on
ssl_cert_file = '${tls.serverCert}'
ssl_key_file = '${tls.serverKey}'
ssl_ca_file = '${tls.caCert}'
password_encryption = 'scram-sha-256'
max_connections = 120
wal_level = replica
hot_standby = on
max_wal_senders = 10
wal_keep_size = '128MB'
wal_retrieve_retry_interval = '500ms'
fsync = off
logging_collector = off
${extra}
`;
}

const HBA = 'hostssl all all 127.0.0.1/32 scram-sha-256\nhostssl replication all 127.0.0.1/32 scram-sha-256\n';

export function instance(dir: string, name: string, port: number): PgInstance {
  return { name, port, data: path.join(dir, name), sock: path.join(dir, `sock-${name}`), log: path.join(dir, `${name}.log`) };
}

function prepareDirs(inst: PgInstance): void {
  const pg = lookupUser('postgres');
  fs.mkdirSync(inst.sock, { recursive: true, mode: 0o700 });
  fs.chownSync(inst.sock, pg.uid, pg.gid);
}

export async function initPrimary(dir: string, inst: PgInstance, tls: Tls, extraConf = ''): Promise<void> {
  prepareDirs(inst);
  const pw = path.join(dir, 'superpw');
  writeAs(pw, SUPER_PW + '\n');
  await run(`${PG_BIN}/initdb`, ['-D', inst.data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pw}`, '-E', 'UTF8', '--locale=C.UTF-8'], { user: 'postgres' });
  fs.appendFileSync(path.join(inst.data, 'postgresql.conf'), confFor(inst, tls, extraConf));
  writeAs(path.join(inst.data, 'pg_hba.conf'), HBA);
  await startPg(inst);
}

export function passfile(dir: string): string {
  const f = path.join(dir, 'pgpass');
  if (!fs.existsSync(f)) writeAs(f, `*:*:*:postgres:${SUPER_PW}\n`);
  return f;
}

function conninfo(dir: string, tls: Tls, port: number): string {
  return `host=127.0.0.1 port=${port} user=postgres passfile=${passfile(dir)} sslmode=verify-full sslrootcert=${tls.caCert} application_name=standby`;
}

/** pg_basebackup over verify-full TLS, then start as a standby of `upstream`. */
export async function cloneStandby(dir: string, inst: PgInstance, upstream: PgInstance, tls: Tls, extraConf = ''): Promise<void> {
  prepareDirs(inst);
  fs.rmSync(inst.data, { recursive: true, force: true });
  await run(`${PG_BIN}/pg_basebackup`, ['-d', conninfo(dir, tls, upstream.port), '-D', inst.data, '-X', 'stream', '-R', '-c', 'fast'], { user: 'postgres' });
  fs.appendFileSync(path.join(inst.data, 'postgresql.conf'), confFor(inst, tls, extraConf));
  fs.appendFileSync(path.join(inst.data, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo(dir, tls, upstream.port)}'\n`);
  await startPg(inst);
}

export async function startPg(inst: PgInstance): Promise<void> {
  await run(`${PG_BIN}/pg_ctl`, ['-D', inst.data, '-l', inst.log, '-w', '-t', '60', 'start'], { user: 'postgres' });
}

export async function stopPg(inst: PgInstance, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  await childProcessRunner.run(`${PG_BIN}/pg_ctl`, ['-D', inst.data, '-m', mode, '-w', '-t', '30', 'stop'], { user: 'postgres', timeoutMs: 40000 });
}

export async function promote(inst: PgInstance): Promise<void> {
  await run(`${PG_BIN}/pg_ctl`, ['-D', inst.data, '-w', '-t', '60', 'promote'], { user: 'postgres' });
}

/** Direct TLS (verify-full against the test CA) connection to one server. */
export async function direct<T>(tls: Tls, port: number, fn: (c: Client) => Promise<T>, o: { user?: string; password?: string; database?: string; timeoutMs?: number } = {}): Promise<T> {
  const c = new Client({
    host: '127.0.0.1', port, user: o.user ?? 'postgres', password: o.password ?? SUPER_PW, database: o.database ?? 'postgres',
    ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true },
    connectionTimeoutMillis: o.timeoutMs ?? 2000,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    await closeClient(c);
  }
}

export type Override = 'garbage' | 'hang' | undefined;

/**
 * The `askNode` test double: what current-primary would print on that node,
 * computed from the real server (pg_is_in_recovery, timeline, WAL receiver),
 * formatted per the contract and parsed by the real parser. A server that
 * does not answer is a timeout, as over SSH to a dead node.
 */
export function realAskNode(tls: Tls, members: readonly Member[], overrides: Map<string, Override>, timeoutMs = 1000) {
  return async (m: Member): Promise<AskResult> => {
    const o = overrides.get(m.name);
    if (o === 'garbage') return parseNodeAnswer(m.name, 'PRIMARY: maybe\n{not json', 0);
    if (o === 'hang') return new Promise<AskResult>(() => undefined);
    try {
      const row = await direct(tls, m.port, async (c) => (await c.query(`
        SELECT pg_is_in_recovery() AS rec,
               CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tl,
               (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
               (SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming') AS sp`)).rows[0], { timeoutMs });
      const upstream = row.rec ? members.find((x) => x.port === row.sp)?.name ?? null : null;
      const primary = row.rec ? upstream : m.name;
      const answer = { primary, node: m.name, role: row.rec ? 'standby' : 'primary', timeline: Number(row.tl), lsn: row.lsn, upstream, members: [], reason: 'test double from the real server' };
      return parseNodeAnswer(m.name, `PRIMARY: ${primary ?? 'none'}\n${JSON.stringify(answer)}\n`, primary ? 0 : 3);
    } catch (e) {
      return { kind: 'timeout', detail: (e as Error).message };
    }
  };
}

/**
 * A client-facing certificate for a ProxyAgent run without enrollment, given the way an operator
 * would (PGSWARM_PROXY_TLS_CERT_FILE/KEY_FILE): the proxy itself never holds the CA key.
 */
export async function operatorProxyCertificate(dir: string, tls: Tls, name: string): Promise<{ cert: string; key: string }> {
  const issued = await ensureCertificate({ dir: path.join(dir, `${name}-operator-tls`), name, altNames: ['127.0.0.1', 'localhost'], caCert: tls.caCert, caKey: tls.caKey, owner: lookupUser('postgres') });
  return { cert: issued.cert, key: issued.key };
}

/**
 * SSH identity layer against a real sshd (loopback, ports 15500-15599) and a
 * real PostgreSQL 15 (unix socket only, peer/scram, no trust): per-node keys,
 * the signed registry, key sync, proxy enrollment with join tokens, the proxy
 * key's forced command and everything it must not be able to do, host-key
 * verification (ssh2 and OpenSSH), and no private key material anywhere.
 */
import t from 'tap';
import { spawn, ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync, existsSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { sh, waitPort } from '../helpers/loopback-sshd';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import nacl from 'tweetnacl';
import pg from 'pg';
import { Client, BaseAgent } from 'ssh2';
import { createLogger } from '../../src/core/log';
import { createToken, decodeTokenUnverified } from '../../src/core/join-token';
import { signRow } from '../../src/core/registry-row';
import { sshdConfig } from '../../src/core/render-ssh';
import { parseKnownHosts } from '../../src/core/host-verifier';
import { scramVerifier } from '../../src/core/scram';
import { generateSigningKeyPair, signingKeyId } from '../../src/core/signing';
import { AtomicFileWriter } from '../../src/adapters/atomic-file';
import { PgRegistryStore, applyRegistrySchema } from '../../src/adapters/registry-store';
import { ensureKeyPair, fingerprint, KeyPairInfo } from '../../src/adapters/ssh-keys';
import { connect, execOn, HostKeyRejected, sshExec, SshTarget } from '../../src/adapters/ssh-exec';
import { KeySyncDeps, KeySyncState, syncKeys } from '../../src/runtime/key-sync';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_PORT = 15510;
const SSH_PORT = 15501;
const ROGUE_SSH_PORT = 15504;
const FWD_TARGET_PORT = 15502;
const REMOTE_FWD_PORT = 15503;
const BASE = '/var/lib/pgswarm-test';
const PG_UID = Number(process.env.PG_UID ?? 0);

interface Env {
  dir: string;
  sock: string;
  etc: string;
  logs: string;
  agentPassword: string;
  enrollPassword: string;
  agent: pg.Client;
  store: PgRegistryStore;
  cluster: { publicKey: string; secretKey: string };
  attacker: { publicKey: string; secretKey: string };
  hostKey: KeyPairInfo;
  nodeClientKey: KeyPairInfo;
  proxyKey: KeyPairInfo;
  otherProxyKey: KeyPairInfo;
  rogueHostKey: KeyPairInfo;
  deps: KeySyncDeps;
  state: KeySyncState;
  logFile: string;
  procs: ChildProcess[];
  uid: number;
  gid: number;
  forcedCommand: string;
}

const env = {} as Env;


function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

async function startSshd(name: string, port: number, hostKeyFile: string): Promise<ChildProcess> {
  const cfgPath = path.join(env.etc, `${name}_config`);
  await fsp.writeFile(cfgPath, sshdConfig({
    port,
    listenAddress: '127.0.0.1',
    hostKeyFile,
    authorizedKeysFile: path.join(env.etc, 'authorized_keys'),
    allowUser: 'postgres',
    pidFile: path.join(env.etc, `${name}.pid`),
  }), { mode: 0o644 });
  await sh('/usr/sbin/sshd', ['-t', '-f', cfgPath]);
  const log = await fsp.open(path.join(env.logs, `${name}.log`), 'a');
  const p = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfgPath], { stdio: ['ignore', log.fd, log.fd] });
  env.procs.push(p);
  p.once('exit', () => { void log.close(); });
  await waitPort(port, 15_000);
  return p;
}

function target(key: KeyPairInfo, port = SSH_PORT, knownHostsText?: string): SshTarget {
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    privateKey: readFileSync(key.privateKeyPath),
    knownHosts: parseKnownHosts(knownHostsText ?? readFileSync(path.join(env.etc, 'known_hosts'), 'utf8')),
    connectTimeoutMs: 5000,
  };
}

function psqlAs(user: string, password: string): pg.Client {
  return new pg.Client({ host: env.sock, port: PG_PORT, user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
}

async function enroll(token: string, key: KeyPairInfo): Promise<number> {
  const c = psqlAs('pgswarm_enroll', env.enrollPassword);
  await c.connect();
  try {
    return await PgRegistryStore.enroll(c, token, `${key.publicKeyLine} proxy`);
  } finally {
    await c.end();
  }
}

function logEvents(): Record<string, unknown>[] {
  return readFileSync(env.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function authorizedKeysText(): string {
  return readFileSync(path.join(env.etc, 'authorized_keys'), 'utf8');
}

function knownHostsText(): string {
  return readFileSync(path.join(env.etc, 'known_hosts'), 'utf8');
}

/** What current-primary must answer, computed by the test from the database itself. */
async function expectedPrimaryLine(): Promise<string> {
  const r = await env.agent.query('SELECT pg_is_in_recovery() AS rec');
  return r.rows[0].rec === false ? 'PRIMARY: node1' : 'PRIMARY: none';
}

function withClient<T>(key: KeyPairInfo, fn: (c: Client) => Promise<T>): Promise<T> {
  return connect(target(key)).then(async (c) => {
    try {
      return await fn(c);
    } finally {
      c.end();
    }
  });
}

t.before(async () => {
  env.procs = [];
  const pw = await sh('id', ['-u', 'postgres']);
  env.uid = Number(pw.stdout.trim());
  env.gid = Number((await sh('id', ['-g', 'postgres'])).stdout.trim());
  void PG_UID;
  await fsp.mkdir(BASE, { recursive: true, mode: 0o755 });
  await fsp.chown(BASE, 0, 0);
  await fsp.chmod(BASE, 0o755);
  env.dir = await fsp.mkdtemp(path.join(BASE, 'ssh-identity-'));
  await fsp.chmod(env.dir, 0o755);
  env.sock = path.join(env.dir, 'pgsock');
  env.etc = path.join(env.dir, 'etc');
  env.logs = path.join(env.dir, 'logs');
  for (const d of [env.etc, env.logs, path.join(env.dir, 'bin')]) await fsp.mkdir(d, { mode: 0o755 });
  await fsp.mkdir(env.sock, { mode: 0o755 });
  await fsp.chown(env.sock, env.uid, env.gid);
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  // Debian creates the postgres account with a locked password ("!"), and sshd without PAM refuses
  // locked accounts even for key logins. "*" also means "no password can ever match" but is not "locked".
  // (The pgnode image must do the same: usermod -p '*' postgres.)
  const shadow = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (shadow && shadow.split(':')[1] === '!') await sh('usermod', ['-p', '*', 'postgres']);

  // PostgreSQL: unix socket only, peer for the postgres OS user, scram for everyone else. No TCP, no trust.
  const data = path.join(env.dir, 'pgdata');
  await fsp.mkdir(data, { mode: 0o700 });
  await fsp.chown(data, env.uid, env.gid);
  await sh(`${PG_BIN}/initdb`, ['-D', data, '-A', 'peer', '--auth-local=peer', '--no-sync', '-U', 'postgres'], { uid: env.uid, gid: env.gid, timeout: 120_000 });
  await fsp.writeFile(path.join(data, 'pg_hba.conf'), 'local all postgres peer\nlocal all all scram-sha-256\n');
  await fsp.chown(path.join(data, 'pg_hba.conf'), env.uid, env.gid);
  const pgLog = path.join(env.logs, 'postgres.log');
  await fsp.writeFile(pgLog, '');
  await fsp.chown(pgLog, env.uid, env.gid);
  await sh(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', pgLog, '-w', '-t', '60', '-o', `-k ${env.sock} -p ${PG_PORT} -c listen_addresses='' -c log_statement=all -c fsync=off`, 'start'], { uid: env.uid, gid: env.gid, timeout: 90_000 });
  env.agentPassword = randomBytes(18).toString('base64url');
  env.enrollPassword = randomBytes(18).toString('base64url');
  const verifier = scramVerifier(env.agentPassword, randomBytes(16));
  await sh('psql', ['-X', '-q', '-h', env.sock, '-p', String(PG_PORT), '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE ROLE agent LOGIN SUPERUSER PASSWORD '${verifier}'`], { uid: env.uid, gid: env.gid });
  env.agent = psqlAs('agent', env.agentPassword);
  await env.agent.connect();
  await applyRegistrySchema(env.agent, { enrollPassword: env.enrollPassword });
  await applyRegistrySchema(env.agent, { enrollPassword: env.enrollPassword }); // idempotent
  env.store = new PgRegistryStore(env.agent);

  // Keys, each generated where it is used.
  env.cluster = generateSigningKeyPair();
  env.attacker = generateSigningKeyPair();
  env.hostKey = await ensureKeyPair(path.join(env.etc, 'ssh_host_ed25519_key'), { uid: 0, gid: 0, comment: 'node1-host' });
  env.nodeClientKey = await ensureKeyPair(path.join(env.dir, 'node', 'id_ed25519'), { comment: 'node1-client' });
  env.proxyKey = await ensureKeyPair(path.join(env.dir, 'proxy', 'id_ed25519'), { comment: 'proxy1' });
  env.otherProxyKey = await ensureKeyPair(path.join(env.dir, 'proxy2', 'id_ed25519'), { comment: 'proxy2' });
  env.rogueHostKey = await ensureKeyPair(path.join(env.etc, 'rogue_host_ed25519_key'), { uid: 0, gid: 0, comment: 'rogue' });

  // The forced command: a stand-in for current-primary that asks the real PostgreSQL.
  env.forcedCommand = path.join(env.dir, 'bin', 'current-primary');
  await fsp.writeFile(env.forcedCommand, [
    '#!/bin/sh',
    `r=$(psql -X -q -At -h ${env.sock} -p ${PG_PORT} -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null)`,
    'case "$r" in f) echo "PRIMARY: node1"; echo \'{"primary":"node1"}\';; *) echo "PRIMARY: none"; echo \'{"primary":null}\';; esac',
    '',
  ].join('\n'), { mode: 0o755 });

  env.logFile = path.join(env.logs, 'key-sync.log');
  env.state = new KeySyncState();
  env.deps = {
    store: env.store,
    files: new AtomicFileWriter(),
    clock: () => new Date(),
    log: createLogger('key-sync', { dest: pino.destination({ dest: env.logFile, sync: true }) }),
    verifyKey: env.cluster.publicKey,
    signingKey: env.cluster.secretKey,
    self: { name: 'node1', host: '127.0.0.1', sshPort: SSH_PORT, hostPublicKey: env.hostKey.publicKeyLine, clientPublicKey: env.nodeClientKey.publicKeyLine },
    authorizedKeysPath: path.join(env.etc, 'authorized_keys'),
    knownHostsPath: path.join(env.etc, 'known_hosts'),
    currentPrimaryCommand: env.forcedCommand,
    nodeName: 'node1',
  };
  const first = await syncKeys(env.deps, env.state);
  if (first.published.length !== 2) throw new Error(`expected own keys published, got ${JSON.stringify(first.published)}`);
  await startSshd('sshd', SSH_PORT, env.hostKey.privateKeyPath);
});

t.teardown(async () => {
  for (const p of env.procs ?? []) if (p.exitCode === null && p.pid) p.kill('SIGTERM');
  await env.agent?.end().catch(() => undefined);
  if (env.dir) {
    await sh(`${PG_BIN}/pg_ctl`, ['-D', path.join(env.dir, 'pgdata'), '-m', 'immediate', '-w', 'stop'], { uid: env.uid, gid: env.gid }).catch(() => undefined);
    if (!process.env.PGSWARM_KEEP_TEST_DIR) await fsp.rm(env.dir, { recursive: true, force: true });
  }
});

t.test('keys: generated locally with tight permissions, reused on restart, fingerprints as ssh-keygen prints', async (t) => {
  for (const k of [env.hostKey, env.nodeClientKey, env.proxyKey]) {
    t.equal(statSync(k.privateKeyPath).mode & 0o777, 0o600, `${k.privateKeyPath} is 0600`);
    const { stdout } = await sh('ssh-keygen', ['-lf', k.publicKeyPath]);
    t.equal(stdout.split(' ')[1], k.fingerprint, 'fingerprint matches ssh-keygen -lf');
    t.equal(fingerprint(k.publicKeyLine), k.fingerprint);
  }
  const again = await ensureKeyPair(env.proxyKey.privateKeyPath, {});
  t.equal(again.created, false, 'reused');
  t.equal(again.fingerprint, env.proxyKey.fingerprint, 'same key on restart');
});

t.test('key sync published this node\'s keys and rendered the files root-owned', async (t) => {
  const ak = authorizedKeysText();
  t.match(ak, new RegExp(`^restrict ${escape(env.nodeClientKey.publicKeyLine)} `, 'm'), 'own client key with restrict');
  t.match(knownHostsText(), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${SSH_PORT},\\[node1\\]:${SSH_PORT} ${escape(env.hostKey.publicKeyLine)}$`, 'm'));
  for (const f of ['authorized_keys', 'known_hosts']) {
    const st = statSync(path.join(env.etc, f));
    t.equal(st.uid, 0, `${f} owned by root`);
    t.equal(st.mode & 0o777, 0o644, `${f} 0644`);
  }
  const before = statSync(path.join(env.etc, 'authorized_keys')).mtimeMs;
  const r = await syncKeys(env.deps, env.state);
  t.equal(r.wroteAuthorizedKeys, false, 'unchanged content is not rewritten');
  t.equal(r.published.length, 0, 'own keys not republished');
  t.equal(statSync(path.join(env.etc, 'authorized_keys')).mtimeMs, before);
  // the postgres OS user cannot change authorized_keys
  const w = await sh('sh', ['-c', `echo x >> ${path.join(env.etc, 'authorized_keys')}`], { uid: env.uid, gid: env.gid }).then(() => 'written', (e) => String(e.stderr));
  t.match(w, /Permission denied/, 'postgres user cannot append to authorized_keys');
});

t.test('a proxy enrolled with a valid token runs current-primary over SSH and gets the right answer', async (t) => {
  const token = createToken({ kind: 'proxy', name: 'proxy1', ttlSeconds: 600, id: 'proxy1-token-1' }, env.cluster.secretKey, new Date());
  // Before enrollment the proxy key is refused by sshd.
  await t.rejects(sshExec(target(env.proxyKey), 'x'), /All configured authentication methods failed/);
  const id = await enroll(token, env.proxyKey);
  const r = await syncKeys(env.deps, env.state);
  t.same(r.enrollments.map((e) => [e.id, e.accepted, e.fingerprint]), [[id, true, env.proxyKey.fingerprint]]);
  t.ok(authorizedKeysText().includes(`restrict,command="${env.forcedCommand}" ${env.proxyKey.publicKeyLine} pgswarm-proxy:proxy1`));
  const row = (await env.agent.query("SELECT status, token, token_id FROM pgswarm.enrollment_requests WHERE id = $1", [id])).rows[0];
  t.same(row, { status: 'accepted', token: null, token_id: 'proxy1-token-1' }, 'request accepted; the token itself is not kept');
  const c = psqlAs('pgswarm_enroll', env.enrollPassword);
  await c.connect();
  t.same(await PgRegistryStore.enrollmentStatus(c, id, `${env.proxyKey.publicKeyLine} proxy`), { status: 'accepted', reason: null }, 'proxy can see its own request\'s status');
  await c.end();
  const out = await sshExec(target(env.proxyKey), 'current-primary');
  t.equal(out.code, 0);
  t.equal(out.stdout.split('\n')[0], await expectedPrimaryLine());
  t.same(JSON.parse(out.stdout.split('\n')[1]), { primary: 'node1' });
});

t.test('the proxy key can do nothing but run current-primary', async (t) => {
  const want = await expectedPrimaryLine();
  const marker = `/tmp/pgswarm-pwned-${randomBytes(6).toString('hex')}`;

  await t.test('arbitrary command: the forced command runs instead', async (t) => {
    const r = await sshExec(target(env.proxyKey), `id; touch ${marker}; echo INJECTED`);
    t.equal(r.stdout.split('\n')[0], want);
    t.notMatch(r.stdout, /uid=|INJECTED/);
    t.notOk(existsSync(marker), 'the command did not run');
  });

  await t.test('shell: the forced command runs instead of a shell', async (t) => {
    const out = await withClient(env.proxyKey, (c) => new Promise<string>((resolve, reject) => {
      c.shell(false, (err, stream) => {
        if (err) return reject(err);
        let o = '';
        stream.on('data', (d: Buffer) => { o += d.toString(); });
        stream.stderr.on('data', (d: Buffer) => { o += d.toString(); });
        stream.write(`id; touch ${marker}\nexit\n`);
        stream.on('close', () => resolve(o));
      });
    }));
    t.equal(out.split('\n')[0], want);
    t.notMatch(out, /uid=/);
    t.notOk(existsSync(marker));
  });

  await t.test('pty: refused', async (t) => {
    const err = await withClient(env.proxyKey, (c) => new Promise<Error | null>((resolve) => {
      c.exec('id', { pty: true }, (e, s) => { if (s) s.close(); resolve(e ?? null); });
    }));
    t.match(err?.message, /^Unable to request a pseudo-terminal$/);
  });

  await t.test('local port forwarding: refused, nothing reaches the target', async (t) => {
    let reached = 0;
    const srv = net.createServer((s) => { reached++; s.destroy(); });
    await new Promise<void>((r) => srv.listen(FWD_TARGET_PORT, '127.0.0.1', r));
    try {
      const err = await withClient(env.proxyKey, (c) => new Promise<Error & { reason?: number }>((resolve) => {
        c.forwardOut('127.0.0.1', 40000, '127.0.0.1', FWD_TARGET_PORT, (e, s) => { if (s) s.destroy(); resolve(e as Error); });
      }));
      t.match(err?.message, /Channel open failure/);
      t.equal(err?.reason, 1, 'SSH_OPEN_ADMINISTRATIVELY_PROHIBITED');
      t.equal(reached, 0, 'no connection reached the target');
    } finally {
      srv.close();
    }
  });

  await t.test('remote port forwarding: refused, nothing listens', async (t) => {
    const err = await withClient(env.proxyKey, (c) => new Promise<Error | null>((resolve) => {
      c.forwardIn('127.0.0.1', REMOTE_FWD_PORT, (e) => resolve(e ?? null));
    }));
    t.match(err?.message, new RegExp(`^Unable to bind to 127.0.0.1:${REMOTE_FWD_PORT}$`));
    t.equal(await portOpen(REMOTE_FWD_PORT), false);
  });

  await t.test('agent forwarding: refused', async (t) => {
    class EmptyAgent extends BaseAgent {
      getIdentities(cb: (err: Error | undefined, keys?: never[]) => void) { cb(undefined, []); }
      sign(_k: unknown, _d: Buffer, _o: unknown, cb?: (err: Error) => void) { cb?.(new Error('no keys')); }
    }
    const tgt = target(env.proxyKey);
    const c = await connect(tgt);
    c.end();
    const err = await new Promise<Error | null>((resolve, reject) => {
      const cl = new Client();
      cl.on('error', reject);
      cl.on('ready', () => {
        (cl.exec as unknown as (c: string, o: object, cb: (e: Error | undefined, s?: { close(): void }) => void) => void).call(cl, 'id', { agentForward: true }, (e, s) => { if (s) s.close(); cl.end(); resolve(e ?? null); });
      });
      cl.connect({ ...connectOpts(tgt), agent: new EmptyAgent(), agentForward: true });
    });
    t.match(err?.message, /^Unable to request agent forwarding$/);
  });

  await t.test('X11 forwarding: refused', async (t) => {
    const err = await withClient(env.proxyKey, (c) => new Promise<Error | null>((resolve) => {
      c.exec('id', { x11: true }, (e, s) => { if (s) s.close(); resolve(e ?? null); });
    }));
    t.match(err?.message, /^Unable to request X11$/);
  });

  await t.test('sftp: no subsystem', async (t) => {
    const err = await withClient(env.proxyKey, (c) => new Promise<Error | null>((resolve) => {
      c.sftp((e, s) => { if (s) s.end(); resolve(e ?? null); });
    }));
    t.match(err?.message, /^Unable to start subsystem: sftp$/);
  });

  await t.test('scp (OpenSSH client, sftp and legacy protocol, upload and download): refused', async (t) => {
    const src = path.join(env.dir, 'scp-src');
    await fsp.writeFile(src, 'payload\n');
    const dest = `/tmp/pgswarm-scp-${randomBytes(6).toString('hex')}`;
    const base = sshOpts(env.proxyKey.privateKeyPath, path.join(env.etc, 'known_hosts'));
    for (const mode of [[], ['-O']]) {
      const up = await sh('scp', [...mode, ...base, '-P', String(SSH_PORT), src, `postgres@127.0.0.1:${dest}`]).then(() => null, (e) => e);
      t.ok(up && up.code !== 0, `scp ${mode.join('') || '(sftp)'} upload fails`);
      t.notOk(existsSync(dest), 'nothing written');
      const down = path.join(env.dir, `scp-down-${mode.length}`);
      const dn = await sh('scp', [...mode, ...base, '-P', String(SSH_PORT), 'postgres@127.0.0.1:/etc/passwd', down]).then(() => null, (e) => e);
      t.ok(dn && dn.code !== 0, `scp ${mode.join('') || '(sftp)'} download fails`);
      t.notOk(existsSync(down) && readFileSync(down, 'utf8').includes('root:'), 'nothing read');
      if (mode.length === 0) {
        t.match(String(up.stderr), /^subsystem request failed on channel 0/, 'sftp-based scp upload: no sftp subsystem');
        t.match(String(dn.stderr), /^subsystem request failed on channel 0/, 'sftp-based scp download: no sftp subsystem');
      } else {
        // legacy scp asks to exec "scp -t/-f"; the forced command answers instead and scp gives up
        t.equal(String(up.stderr).split('\n')[0], want, 'legacy scp upload: got current-primary instead of scp');
        // (a download can also end before scp prints the answer: "lost connection"; the refusal is asserted above)
        t.match(String(dn.stderr).split('\n')[0], new RegExp(`^(${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|lost connection)$`), 'legacy scp download: got current-primary (or lost the connection) instead of scp');
      }
    }
  });
});

function sshOpts(keyFile: string, knownHostsFile: string): string[] {
  return ['-F', '/dev/null', '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5'];
}

function connectOpts(tgt: SshTarget) {
  const entries = tgt.knownHosts;
  return {
    host: tgt.host,
    port: tgt.port,
    username: tgt.user,
    privateKey: tgt.privateKey,
    readyTimeout: 5000,
    hostVerifier: (k: Buffer) => entries.some((e) => e.blob === k.toString('base64')),
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

t.test('rows inserted directly with SQL without a valid signature never reach the files, and are logged', async (t) => {
  const evilClient = await ensureKeyPair(path.join(env.dir, 'evil', 'id_ed25519'), {});
  const evilClient2 = await ensureKeyPair(path.join(env.dir, 'evil2', 'id_ed25519'), {});
  const now = new Date().toISOString();
  // 1. no signature at all
  await env.agent.query(
    `INSERT INTO pgswarm.registry (kind, name, fingerprint, public_key, created_at, expires_at, generation) VALUES ('node-client', 'evil1', $1, $2, now(), now() + interval '1 hour', 1)`,
    [evilClient.fingerprint, evilClient.publicKeyLine],
  );
  // 2. signed with another key but claiming to be the cluster key
  const forged = signRow({ kind: 'node-client', name: 'evil2', publicKey: evilClient2.publicKeyLine, createdAt: now, expiresAt: new Date(Date.now() + 3600_000).toISOString(), generation: 1 }, env.attacker.secretKey);
  await env.store.insertRow({ ...forged, signedBy: signingKeyId(env.cluster.publicKey) });
  // 3. a host key for the rogue server, signed by an unknown key
  const rogue = signRow({ kind: 'node-host', name: 'node1', publicKey: env.rogueHostKey.publicKeyLine, host: '127.0.0.1', port: ROGUE_SSH_PORT, createdAt: now, expiresAt: new Date(Date.now() + 3600_000).toISOString(), generation: 1 }, env.attacker.secretKey);
  await env.store.insertRow(rogue);
  // 4. a correctly signed row whose content was edited afterwards (proxy key made a node-client key)
  const good = signRow({ kind: 'proxy', name: 'proxy-x', publicKey: evilClient2.publicKeyLine, createdAt: now, expiresAt: new Date(Date.now() + 3600_000).toISOString(), generation: 1 }, env.cluster.secretKey);
  await env.store.insertRow({ ...good, kind: 'node-client', name: 'proxy-x' });
  // 5. the database refuses a private key outright
  //    (This one connection keeps the server log quiet: the test sends key material on purpose, and the
  //    leak scan at the end must stay meaningful for everything else, which runs with log_statement=all.)
  const priv = readFileSync(evilClient.privateKeyPath, 'utf8');
  const quiet = new pg.Client({ host: env.sock, port: PG_PORT, user: 'agent', password: env.agentPassword, database: 'postgres',
    options: '-c log_statement=none -c log_min_messages=panic -c log_min_error_statement=panic' });
  await quiet.connect();
  await t.rejects(quiet.query(
    `INSERT INTO pgswarm.registry (kind, name, fingerprint, public_key, created_at) VALUES ('node-client', 'evil3', 'x', $1, now())`, [priv],
  ), { code: '23514' }, 'check constraint refuses private key material');
  await quiet.end();

  const r = await syncKeys(env.deps, env.state);
  const reasons = Object.fromEntries(r.ignored.map((i) => [`${i.name}/${i.fingerprint}`, i.reason]));
  t.same(reasons, {
    [`evil1/${evilClient.fingerprint}`]: 'missing-signature',
    [`evil2/${evilClient2.fingerprint}`]: 'bad-signature',
    [`node1/${env.rogueHostKey.fingerprint}`]: 'unknown-signer',
    [`proxy-x/${evilClient2.fingerprint}`]: 'bad-signature',
  });
  for (const k of [evilClient, evilClient2, env.rogueHostKey]) {
    const b64 = k.publicKeyLine.split(' ')[1];
    t.notOk(authorizedKeysText().includes(b64), `${k.fingerprint} not in authorized_keys`);
    t.notOk(knownHostsText().includes(b64), `${k.fingerprint} not in known_hosts`);
  }
  const logged = logEvents().filter((e) => e.event === 'registry-row-ignored');
  for (const k of [evilClient, evilClient2, env.rogueHostKey]) {
    t.ok(logged.some((e) => e.fingerprint === k.fingerprint && typeof e.reason === 'string'), `ignored row ${k.fingerprint} logged with its reason`);
  }
  await t.rejects(sshExec(target(evilClient), 'id'), /All configured authentication methods failed/, 'unsigned key cannot log in');
  await t.rejects(sshExec(target(evilClient2), 'id'), /All configured authentication methods failed/, 'badly signed key cannot log in');
  // logged once, not every tick
  const n = logEvents().filter((e) => e.event === 'registry-row-ignored').length;
  await syncKeys(env.deps, env.state);
  t.equal(logEvents().filter((e) => e.event === 'registry-row-ignored').length, n, 'not logged again while unchanged');
});

t.test('bad tokens are refused, logged, and their keys never authorised', async (t) => {
  const now = new Date();
  const mk = (id: string, name = 'proxy2', at = now, ttl = 600, key = env.cluster.secretKey) =>
    createToken({ kind: 'proxy', name, ttlSeconds: ttl, id }, key, at);
  const valid = mk('proxy2-token-ok');
  const [body, sig] = valid.split('.');
  const p = JSON.parse(Buffer.from(body, 'base64url').toString());
  p.name = 'proxy1';
  const tampered = `${Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(p).sort()))).toString('base64url')}.${sig}`;
  const revokedTok = mk('proxy2-token-revoked');
  await env.store.revokeToken('proxy2-token-revoked', 'test');
  // Expired and revoked tokens are refused by pgswarm.enroll() itself: nothing is stored.
  await t.rejects(enroll(mk('proxy2-token-expired', 'proxy2', new Date(now.getTime() - 3600_000), 60), env.otherProxyKey), /join token expired/, 'expired: refused by the database');
  await t.rejects(enroll(revokedTok, env.otherProxyKey), /join token revoked/, 'revoked: refused by the database');
  const cases: [string, string, KeyPairInfo, string][] = [
    ['forged', mk('proxy2-token-forged', 'proxy2', now, 600, env.attacker.secretKey), env.otherProxyKey, 'unknown-signer'],
    ['tampered', tampered, env.otherProxyKey, 'bad-signature'],
    ['reused with another key', createToken({ kind: 'proxy', name: 'proxy1', ttlSeconds: 600, id: 'proxy1-token-1' }, env.cluster.secretKey, now), env.otherProxyKey, 'reused'],
  ];
  const ids: Record<string, number> = {};
  for (const [name, token, key] of cases) ids[name] = await enroll(token, key);
  const refusedBefore = logEvents().filter((x) => x.event === 'enrollment-refused').length;
  const r = await syncKeys(env.deps, env.state);
  const summaries = logEvents().filter((x) => x.event === 'enrollment-refused');
  t.equal(summaries.length - refusedBefore, 1, 'one summary line for the round, not one per request');
  for (const [name, , , reason] of cases) {
    const e = r.enrollments.find((x) => x.id === ids[name]);
    t.same(e && [e.accepted, e.reason], [false, reason], `${name}: refused as ${reason}`);
    const row = (await env.agent.query('SELECT status, reason, token FROM pgswarm.enrollment_requests WHERE id = $1', [ids[name]])).rows[0];
    t.same(row, { status: 'refused', reason, token: null }, `${name}: request marked refused`);
    t.ok(logEvents().some((x) => x.event === 'enrollment-refused' && (x.examples as { requestId: number; reason: string }[]).some((e) => e.requestId === ids[name] && e.reason === reason)), `${name}: logged`);
  }
  t.notOk(authorizedKeysText().includes(env.otherProxyKey.publicKeyLine.split(' ')[1]), 'key not in authorized_keys');
  await t.rejects(sshExec(target(env.otherProxyKey), 'current-primary'), /All configured authentication methods failed/);
  // the proxy1 key, enrolled with proxy1-token-1, is still fine: re-presenting the same key is idempotent
  const again = await enroll(createToken({ kind: 'proxy', name: 'proxy1', ttlSeconds: 600, id: 'proxy1-token-1' }, env.cluster.secretKey, now), env.proxyKey);
  const r2 = await syncKeys(env.deps, env.state);
  t.same(r2.enrollments.map((e) => [e.id, e.accepted]), [[again, true]]);
});

t.test('a server whose host key is not in the registry is refused (ssh2 and OpenSSH)', async (t) => {
  await startSshd('rogue', ROGUE_SSH_PORT, env.rogueHostKey.privateKeyPath);
  const err = await sshExec(target(env.proxyKey, ROGUE_SSH_PORT), 'current-primary').then(() => null, (e) => e);
  t.ok(err instanceof HostKeyRejected, `HostKeyRejected (${err})`);
  t.equal(err?.presentedFingerprint, env.rogueHostKey.fingerprint);
  // the real node's key on another port is not good enough either: keys are bound to name and port
  const kh = knownHostsText().replace(`[127.0.0.1]:${SSH_PORT}`, `[127.0.0.1]:${ROGUE_SSH_PORT}`);
  const err2 = await sshExec(target(env.proxyKey, SSH_PORT, kh), 'x').then(() => null, (e) => e);
  t.ok(err2 instanceof HostKeyRejected, 'registry key listed for another port only: refused');
  const ssh = await sh('ssh', [...sshOpts(env.nodeClientKey.privateKeyPath, path.join(env.etc, 'known_hosts')), '-p', String(ROGUE_SSH_PORT), 'postgres@127.0.0.1', 'echo ok']).then(() => null, (e) => e);
  t.equal(ssh?.code, 255);
  t.match(String(ssh?.stderr), /Host key verification failed/);
  t.notMatch(String(ssh?.stdout), /ok/);
});

t.test('OpenSSH client (as repmgr uses it) works with a node client key and the rendered known_hosts', async (t) => {
  const kh = path.join(env.etc, 'known_hosts');
  const r = await sh('ssh', [...sshOpts(env.nodeClientKey.privateKeyPath, kh), '-p', String(SSH_PORT), 'postgres@127.0.0.1', 'echo ok-$(id -un)']);
  t.equal(r.stdout.trim(), 'ok-postgres');
  const empty = path.join(env.dir, 'empty_known_hosts');
  await fsp.writeFile(empty, '');
  const e = await sh('ssh', [...sshOpts(env.nodeClientKey.privateKeyPath, empty), '-p', String(SSH_PORT), 'postgres@127.0.0.1', 'echo ok']).then(() => null, (x) => x);
  t.match(String(e?.stderr), /Host key verification failed/, 'empty known_hosts: strict checking refuses');
  const pty = await sh('ssh', [...sshOpts(env.nodeClientKey.privateKeyPath, kh), '-tt', '-p', String(SSH_PORT), 'postgres@127.0.0.1', 'tty']).then((x) => x, (x) => x);
  t.match(String(pty.stderr), /^PTY allocation request failed on channel 0/, 'node client key gets no pty');
  const fwd = await sh('ssh', [...sshOpts(env.nodeClientKey.privateKeyPath, kh), '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${REMOTE_FWD_PORT}:127.0.0.1:22`, '-p', String(SSH_PORT), 'postgres@127.0.0.1', 'echo ok']).then(() => null, (x) => x);
  t.match(String(fwd?.stderr), /remote port forwarding failed/, 'node client key cannot forward ports');
});

t.test('the enrollment role can call enroll() and nothing else', async (t) => {
  const c = psqlAs('pgswarm_enroll', env.enrollPassword);
  await c.connect();
  try {
    const denied = [
      'SELECT * FROM pgswarm.registry',
      "INSERT INTO pgswarm.registry (kind, name, fingerprint, public_key, created_at) VALUES ('proxy', 'x', 'x', 'x', now())",
      'DELETE FROM pgswarm.registry',
      "UPDATE pgswarm.registry SET name = 'x'",
      'SELECT * FROM pgswarm.enrollment_requests',
      "UPDATE pgswarm.enrollment_requests SET status = 'accepted'",
      "INSERT INTO pgswarm.enrollment_requests (token, public_key) VALUES ('a.b', 'x')",
      'SELECT * FROM pgswarm.revoked_tokens',
      'DELETE FROM pgswarm.revoked_tokens',
      "INSERT INTO pgswarm.token_uses (token_id, fingerprint, name) VALUES ('a', 'b', 'c')",
      'CREATE TABLE public.x (a int)',
      'CREATE TABLE pgswarm.x (a int)',
    ];
    for (const q of denied) await t.rejects(c.query(q), { code: '42501' }, q);
    await t.rejects(c.query("SELECT pgswarm.enroll('not a token', 'ssh-ed25519 AAAA')"), { code: '22023' }, 'garbage token refused at the door');
    await t.rejects(c.query('SELECT pgswarm.enroll($1, $2)', ['a.b', `command="sh" ${env.proxyKey.publicKeyLine}`]), { code: '22023' }, 'key options refused at the door');
    await t.rejects(c.query('SELECT pgswarm.enroll($1, $2)', ['a.b', `${env.proxyKey.publicKeyLine}\n${env.proxyKey.publicKeyLine}`]), { code: '22023' }, 'two lines refused at the door');
    await t.rejects(c.query('SET ROLE agent'), { code: '42501' });
  } finally {
    await c.end();
  }
});

t.test('revoking the proxy\'s token removes its key within one sync', async (t) => {
  t.ok((await sshExec(target(env.proxyKey), 'x')).stdout.startsWith('PRIMARY'), 'works before');
  const saved = (await env.store.readRows()).find((r) => (r as { fingerprint: string }).fingerprint === env.proxyKey.fingerprint);
  t.ok(saved, 'the signed proxy row exists');
  const removed = await env.store.revokeToken('proxy1-token-1');
  t.equal(removed, 1);
  const r = await syncKeys(env.deps, env.state);
  t.equal(r.wroteAuthorizedKeys, true);
  t.notOk(authorizedKeysText().includes(env.proxyKey.publicKeyLine.split(' ')[1]));
  await t.rejects(sshExec(target(env.proxyKey), 'x'), /All configured authentication methods failed/);
  // a database superuser replaying the old, validly signed row does not bring the key back: its token is revoked
  await env.store.insertRow(saved as never);
  const r2 = await syncKeys(env.deps, env.state);
  // (superseded: the key sync replaced the revoked row with a signed tombstone of a higher generation)
  t.same(r2.ignored.filter((i) => i.fingerprint === env.proxyKey.fingerprint).map((i) => i.reason), ['superseded']);
  t.notOk(authorizedKeysText().includes(env.proxyKey.publicKeyLine.split(' ')[1]), 'replayed row not authorised');
  t.ok(logEvents().some((e) => e.event === 'registry-row-ignored' && e.fingerprint === env.proxyKey.fingerprint && e.reason === 'superseded'), 'replay logged');
  await t.rejects(sshExec(target(env.proxyKey), 'x'), /All configured authentication methods failed/);
});

t.test('no private key material in any log file or database dump', async (t) => {
  const dump = path.join(env.logs, 'dumpall.sql');
  const { stdout } = await sh('pg_dumpall', ['-h', env.sock, '-p', String(PG_PORT)], { uid: env.uid, gid: env.gid });
  await fsp.writeFile(dump, stdout);
  t.match(stdout, /pgswarm\.registry/, 'the dump holds the registry');
  t.match(stdout, new RegExp(escape(env.hostKey.publicKeyLine.split(' ')[1])), 'and the public keys');
  const secrets: string[] = [env.cluster.secretKey, Buffer.from(env.cluster.secretKey, 'base64').subarray(0, 32).toString('base64')];
  const keyFiles = [env.hostKey, env.nodeClientKey, env.proxyKey, env.otherProxyKey, env.rogueHostKey];
  for (const k of keyFiles) secrets.push(...privateKeyNeedles(readFileSync(k.privateKeyPath, 'utf8')));
  const markers = /PRIVATE KEY|b3BlbnNzaC1rZXktdjE|openssh-key-v1/;
  // positive control: the search finds what it looks for
  const control = readFileSync(env.proxyKey.privateKeyPath, 'utf8');
  const needles = privateKeyNeedles(control);
  t.ok(markers.test(control) && control.replace(/\s+/g, '').includes(needles[0]), 'search finds key material in a key file');
  const seed = Buffer.from(needles[1], 'base64');
  t.equal(Buffer.from(nacl.sign.keyPair.fromSeed(seed).publicKey).toString('hex'),
    Buffer.from(env.proxyKey.publicKeyLine.split(' ')[1], 'base64').subarray(-32).toString('hex'), 'the extracted seed really is the private key');
  const files = (await fsp.readdir(env.logs)).map((f) => path.join(env.logs, f));
  t.ok(files.length >= 4, `searched ${files.map((f) => path.basename(f)).join(', ')}`);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    t.notMatch(text, markers, `${path.basename(f)}: no private-key markers`);
    for (const s of secrets) t.notOk(text.includes(s), `${path.basename(f)}: no raw private key bytes`);
  }
});

/** The base64 of an OpenSSH private key's body and of its raw ed25519 seed (standard and url-safe). */
function privateKeyNeedles(pem: string): string[] {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const raw = Buffer.from(body, 'base64');
  let off = 15; // "openssh-key-v1\0"
  const str = () => { const n = raw.readUInt32BE(off); const v = raw.subarray(off + 4, off + 4 + n); off += 4 + n; return v; };
  str(); str(); str(); // cipher, kdf, kdf options
  off += 4; // number of keys
  str(); // public key
  const priv = str();
  let p = 8; // check ints
  const pstr = () => { const n = priv.readUInt32BE(p); const v = priv.subarray(p + 4, p + 4 + n); p += 4 + n; return v; };
  pstr(); pstr(); // type, public
  const seed = pstr().subarray(0, 32);
  return [body.slice(20, 80), seed.toString('base64'), seed.toString('base64url'), seed.toString('hex')];
}

/**
 * Enrollment hygiene against a real PostgreSQL 15 (unix socket, scram; port
 * 16200): a holder of the enrollment password floods pgswarm.enroll() with
 * junk. The request table must stay bounded (junk with an invalid token is
 * not stored at all), a real proxy's enrollment must still go through during
 * the flood, oversize fields are refused by the database itself, refused and
 * expired requests are purged by the node, and refusals are logged as one
 * summary line per round.
 */
import t from 'tap';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import pg from 'pg';
import nacl from 'tweetnacl';
import { sh, TEST_BASE } from '../helpers/loopback-sshd';
import { createLogger } from '../../src/core/log';
import { createToken } from '../../src/core/join-token';
import * as joinToken from '../../src/core/join-token';
import { canonicalBytes } from '../../src/core/canonical';
import { scramVerifier } from '../../src/core/scram';
import { generateSigningKeyPair, signingKeyId } from '../../src/core/signing';
import { AtomicFileWriter } from '../../src/adapters/atomic-file';
import { PgRegistryStore, applyRegistrySchema } from '../../src/adapters/registry-store';
import { ensureKeyPair, KeyPairInfo } from '../../src/adapters/ssh-keys';
import { KeySyncDeps, KeySyncState, syncKeys } from '../../src/runtime/key-sync';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_PORT = 16200;

const env = {} as {
  dir: string; sock: string; uid: number; gid: number; agent: pg.Client; store: PgRegistryStore;
  enrollPassword: string; cluster: { publicKey: string; secretKey: string }; attacker: { publicKey: string; secretKey: string };
  keys: KeyPairInfo[]; deps: KeySyncDeps; state: KeySyncState; logFile: string;
};

const client = (user: string, password: string) => new pg.Client({ host: env.sock, port: PG_PORT, user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
const logEvents = (): Record<string, unknown>[] => readFileSync(env.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const count = async (where = 'true') => Number((await env.agent.query(`SELECT count(*) AS n FROM pgswarm.enrollment_requests WHERE ${where}`)).rows[0].n);

/** One enroll-role session submitting many requests; returns how many the database refused, by message. */
async function submitAll(reqs: [string, string][]): Promise<{ ids: number[]; refused: Map<string, number> }> {
  const c = client('pgswarm_enroll', env.enrollPassword);
  c.on('error', () => undefined);
  await c.connect();
  const ids: number[] = [];
  const refused = new Map<string, number>();
  try {
    for (const [tok, key] of reqs) {
      try {
        ids.push(await PgRegistryStore.enroll(c, tok, key));
      } catch (e) {
        const m = (e as Error).message;
        refused.set(m, (refused.get(m) ?? 0) + 1);
      }
    }
  } finally {
    await c.end().catch(() => undefined);
  }
  return { ids, refused };
}

const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url');

/** A token that looks right to anything but an ed25519 check: our issuer id, a fresh id, signed with the attacker's key. */
function forgedWithOurIssuer(i: number): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { exp: now + 600, iat: now, id: `forged-${i}-${randomBytes(4).toString('hex')}`, iss: signingKeyId(env.cluster.publicKey), kind: 'proxy', name: `px${i}`, v: 1 };
  const body = canonicalBytes(payload);
  const sig = nacl.sign.detached(new Uint8Array([...Buffer.from('pgswarm/join-token/v1\n'), ...body]), Buffer.from(env.attacker.secretKey, 'base64'));
  return `${b64u(body)}.${b64u(sig)}.${b64u(randomBytes(32))}`;
}

t.before(async () => {
  env.uid = Number((await sh('id', ['-u', 'postgres'])).stdout.trim());
  env.gid = Number((await sh('id', ['-g', 'postgres'])).stdout.trim());
  await fsp.mkdir(TEST_BASE, { recursive: true, mode: 0o755 });
  env.dir = await fsp.mkdtemp(path.join(TEST_BASE, 'enroll-flood-'));
  await fsp.chmod(env.dir, 0o755);
  env.sock = path.join(env.dir, 'sock');
  await fsp.mkdir(env.sock, { mode: 0o755 });
  await fsp.chown(env.sock, env.uid, env.gid);
  const data = path.join(env.dir, 'pgdata');
  await fsp.mkdir(data, { mode: 0o700 });
  await fsp.chown(data, env.uid, env.gid);
  await sh(`${PG_BIN}/initdb`, ['-D', data, '-A', 'peer', '--auth-local=peer', '--no-sync', '-U', 'postgres'], { uid: env.uid, gid: env.gid, timeout: 120_000 });
  await fsp.writeFile(path.join(data, 'pg_hba.conf'), 'local all postgres peer\nlocal all all scram-sha-256\n');
  const pgLog = path.join(env.dir, 'postgres.log');
  await fsp.writeFile(pgLog, '');
  await fsp.chown(pgLog, env.uid, env.gid);
  await sh(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', pgLog, '-w', '-t', '60', '-o', `-k ${env.sock} -p ${PG_PORT} -c listen_addresses='' -c fsync=off -c max_connections=40`, 'start'], { uid: env.uid, gid: env.gid, timeout: 90_000 });
  const agentPw = randomBytes(18).toString('base64url');
  env.enrollPassword = randomBytes(18).toString('base64url');
  await sh('psql', ['-X', '-q', '-h', env.sock, '-p', String(PG_PORT), '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE ROLE agent LOGIN SUPERUSER PASSWORD '${scramVerifier(agentPw, randomBytes(16))}'`], { uid: env.uid, gid: env.gid });
  env.agent = client('agent', agentPw);
  await env.agent.connect();
  env.cluster = generateSigningKeyPair();
  env.attacker = generateSigningKeyPair();
  // As a node applies it: issuer id and gate key (from the signing key) known to the database.
  const gate = (joinToken as unknown as { tokenGateKey?: (s: string) => Buffer }).tokenGateKey;
  const opts = { enrollPassword: env.enrollPassword, signingKeyId: signingKeyId(env.cluster.publicKey), ...(gate ? { gateKey: gate(env.cluster.secretKey) } : {}) };
  await applyRegistrySchema(env.agent, opts as Parameters<typeof applyRegistrySchema>[1]);
  await applyRegistrySchema(env.agent, opts as Parameters<typeof applyRegistrySchema>[1]); // idempotent
  env.store = new PgRegistryStore(env.agent);
  env.keys = [];
  for (let i = 0; i < 3; i++) env.keys.push(await ensureKeyPair(path.join(env.dir, `k${i}`, 'id_ed25519'), { comment: `proxy${i}` }));
  env.logFile = path.join(env.dir, 'key-sync.log');
  env.state = new KeySyncState();
  env.deps = {
    store: env.store, files: new AtomicFileWriter(), clock: () => new Date(),
    log: createLogger('key-sync', { dest: pino.destination({ dest: env.logFile, sync: true }) }),
    verifyKey: env.cluster.publicKey, signingKey: env.cluster.secretKey,
    authorizedKeysPath: path.join(env.dir, 'authorized_keys'), knownHostsPath: path.join(env.dir, 'known_hosts'),
    currentPrimaryCommand: '/bin/false', nodeName: 'node1',
  };
});

t.teardown(async () => {
  await env.agent?.end().catch(() => undefined);
  if (env.dir) {
    await sh(`${PG_BIN}/pg_ctl`, ['-D', path.join(env.dir, 'pgdata'), '-m', 'immediate', '-w', 'stop'], { uid: env.uid, gid: env.gid }).catch(() => undefined);
    if (!process.env.PGSWARM_KEEP_TEST_DIR) await fsp.rm(env.dir, { recursive: true, force: true });
  }
});

t.test('a flood of 1000 junk requests leaves the table bounded; a real proxy enrolls during it', async (t) => {
  const junkKey = `${env.keys[2].publicKeyLine}`;
  const junk: [string, string][] = [];
  for (let i = 0; i < 1000; i++) {
    const kind = i % 4;
    if (kind === 0) junk.push([`${b64u(randomBytes(40))}.${b64u(randomBytes(64))}`, junkKey]); // random garbage in the right shape
    else if (kind === 1) junk.push([createToken({ kind: 'proxy', name: `px${i}`, ttlSeconds: 600 }, env.attacker.secretKey, Date.now()), junkKey]); // another cluster's key
    else if (kind === 2) junk.push([forgedWithOurIssuer(i), junkKey]); // our issuer id, bad signature, bad gate
    else junk.push([forgedWithOurIssuer(i).split('.').slice(0, 2).join('.'), junkKey]); // same, no gate at all
  }
  const realToken = createToken({ kind: 'proxy', name: 'realproxy', ttlSeconds: 600, id: 'real-token-0001' }, env.cluster.secretKey, Date.now());
  // four flooders at once, the node deciding between bursts, the real proxy in the middle
  const floods = [0, 1, 2, 3].map((k) => submitAll(junk.slice(k * 250, k * 250 + 125)));
  await syncKeys(env.deps, env.state);
  const real = await submitAll([[realToken, env.keys[0].publicKeyLine]]);
  const floods2 = [0, 1, 2, 3].map((k) => submitAll(junk.slice(k * 250 + 125, (k + 1) * 250)));
  const results = await Promise.all([...floods, ...floods2]);
  const stored = results.reduce((n, r) => n + r.ids.length, 0);
  const refusedBy = new Map<string, number>();
  for (const r of results) for (const [m, n] of r.refused) refusedBy.set(m, (refusedBy.get(m) ?? 0) + n);
  t.comment(`junk stored: ${stored}; refused by the database: ${JSON.stringify(Object.fromEntries(refusedBy))}`);
  t.same(real.refused, new Map(), 'the real proxy\'s request was accepted by the database during the flood');
  t.equal(real.ids.length, 1);
  t.equal(stored, 0, 'not one junk request was stored');
  const rows = await count();
  t.ok(rows <= 5, `the table is bounded after 1000 junk requests: ${rows} row(s)`);
  const r = await syncKeys(env.deps, env.state);
  t.same(r.enrollments.filter((e) => e.accepted).map((e) => e.id), real.ids, 'the real proxy is countersigned');
  const row = (await env.agent.query("SELECT name FROM pgswarm.registry WHERE kind = 'proxy'")).rows;
  t.same(row, [{ name: 'realproxy' }]);
});

t.test('oversize and malformed fields are refused by the database itself', async (t) => {
  const ok = createToken({ kind: 'proxy', name: 'sizes', ttlSeconds: 600 }, env.cluster.secretKey, Date.now());
  const [body, sig, gate] = ok.split('.');
  const longBody = `${body}${'A'.repeat(1500)}`;
  const cases: [string, string, string, RegExp][] = [
    ['a 1500-character token', `${longBody}.${sig}${gate ? `.${gate}` : ''}`, env.keys[1].publicKeyLine, /malformed join token/],
    ['a 5000-character token', `${'A'.repeat(5000)}.${sig}`, env.keys[1].publicKeyLine, /malformed join token/],
    ['a 2000-character key comment', ok, `${env.keys[1].publicKeyLine} ${'c'.repeat(2000)}`, /not an OpenSSH public key line/],
    ['a signature of the wrong length', `${body}.${sig}AAAA`, env.keys[1].publicKeyLine, /malformed join token/],
  ];
  for (const [what, tok, key, re] of cases) {
    const res = await submitAll([[tok, key]]);
    t.equal(res.ids.length, 0, `${what}: not stored`);
    t.match([...res.refused.keys()].join(';'), re, `${what}: refused with a clear error`);
  }
  const c = client('pgswarm_enroll', env.enrollPassword);
  await c.connect();
  try {
    await t.rejects(c.query('SELECT pgswarm.enroll($1, $2, $3)', [ok, env.keys[1].publicKeyLine, `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(6000)}\n-----END CERTIFICATE REQUEST-----\n`]), /not a PEM certificate request/, 'a 6000-character CSR is refused');
    await t.rejects(c.query('SELECT pgswarm.renew_certificate($1, $2, $3)', [env.keys[1].publicKeyLine, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'A'.repeat(600)]), /malformed proof/, 'a 600-character proof is refused');
    await t.rejects(c.query("INSERT INTO pgswarm.enrollment_requests (token, public_key) VALUES ('x', 'y')"), /permission denied/, 'the role cannot write the table directly');
  } finally {
    await c.end();
  }
  // the table's own CHECK constraint holds even for a writer that bypasses the function
  await t.rejects(env.agent.query("INSERT INTO pgswarm.enrollment_requests (token, public_key) VALUES (repeat('a', 2000), 'ssh-ed25519 AAAA')"), /enrollment_requests_sizes/, 'CHECK constraint on the token size');
  const cfg = (await env.agent.query("SELECT rolconnlimit, rolconfig FROM pg_roles WHERE rolname = 'pgswarm_enroll'")).rows[0];
  t.match(cfg.rolconfig.join(','), /idle_session_timeout=10s/, 'idle enrollment sessions are closed');
  t.match(cfg.rolconfig.join(','), /statement_timeout=2s/, 'statements are short');
});

t.test('per-token rate limit: extra requests with one token are refused, not stored', async (t) => {
  const tok = createToken({ kind: 'proxy', name: 'limited', ttlSeconds: 600, id: 'limited-token-01' }, env.cluster.secretKey, Date.now());
  const extra = await ensureKeyPair(path.join(env.dir, 'k-extra', 'id_ed25519'), { comment: 'extra' });
  const before = await count();
  const res = await submitAll([[tok, env.keys[1].publicKeyLine], [tok, env.keys[1].publicKeyLine], [tok, env.keys[2].publicKeyLine], [tok, extra.publicKeyLine]]);
  t.equal(new Set(res.ids).size, 2, 'two distinct pending requests per token (a retry returns the same id)');
  t.match([...res.refused.keys()].join(';'), /too many pending requests for this token/);
  t.equal(await count(), before + 2, 'the refused one was not stored');
  await syncKeys(env.deps, env.state);
});

t.test('refused and expired requests are purged by the node, logged once per purge', async (t) => {
  // 15 genuine tokens, each bound to a key, then presented with two other keys: 30 requests only a node can refuse (reused)
  const toks: string[] = [];
  for (let i = 0; i < 15; i++) toks.push(createToken({ kind: 'proxy', name: `bound${i}`, ttlSeconds: 600, id: `bound-token-${String(i).padStart(3, '0')}` }, env.cluster.secretKey, Date.now()));
  await submitAll(toks.map((x) => [x, env.keys[0].publicKeyLine]));
  await syncKeys(env.deps, env.state);
  const k3 = await ensureKeyPair(path.join(env.dir, 'k3', 'id_ed25519'), { comment: 'k3' });
  const sub = await submitAll(toks.flatMap((x) => [[x, env.keys[1].publicKeyLine], [x, k3.publicKeyLine]] as [string, string][]));
  t.equal(sub.ids.length, 30, '30 requests stored (well-formed, genuine tokens)');
  // a CSR request no node here can answer (no CA): it stays pending; make it look 20 minutes old
  const csrTok = createToken({ kind: 'proxy', name: 'waiting', ttlSeconds: 600 }, env.cluster.secretKey, Date.now());
  const c = client('pgswarm_enroll', env.enrollPassword);
  await c.connect();
  let csrId = 0;
  try {
    csrId = Number((await c.query('SELECT pgswarm.enroll($1, $2, $3) AS id', [csrTok, env.keys[2].publicKeyLine, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'])).rows[0].id);
  } catch (e) {
    t.fail(`CSR request not accepted: ${(e as Error).message}`);
  } finally {
    await c.end();
  }
  await env.agent.query("UPDATE pgswarm.enrollment_requests SET requested_at = now() - interval '20 minutes' WHERE id = $1", [csrId]);
  const linesBefore = logEvents().length;
  await syncKeys(env.deps, env.state);
  const round = logEvents().slice(linesBefore);
  const refusedLines = round.filter((e) => e.event === 'enrollment-refused');
  t.equal(refusedLines.length, 1, 'one summary line for 30 refusals');
  t.same(refusedLines[0]?.reasons, { reused: 30 });
  const purged = round.filter((e) => e.event === 'enrollment-requests-purged');
  t.equal(purged.length, 1, 'one purge line');
  t.ok(Number(purged[0]?.refused) >= 10, `refused requests beyond the newest 20 purged (${purged[0]?.refused})`);
  t.equal(purged[0]?.expired, 1, 'the undecided request older than 10 minutes expired');
  t.ok(await count("status = 'refused'") <= 20, 'at most 20 refused requests kept');
  t.equal(await count(`id = ${csrId}`), 0);
  // older than an hour: all refused ones go
  await env.agent.query("UPDATE pgswarm.enrollment_requests SET decided_at = now() - interval '2 hours' WHERE status = 'refused'");
  await syncKeys(env.deps, env.state);
  t.equal(await count("status = 'refused'"), 0, 'refused requests older than an hour purged');
  const rows = await count();
  t.ok(rows <= 20, `table bounded: ${rows} row(s)`);
});

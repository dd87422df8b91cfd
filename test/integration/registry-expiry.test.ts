/**
 * Registry rows expire, are renewed by their owners, and a retired row cannot
 * be replayed (docs/security.md, "Registry rows: expiry and revocation").
 * A real PostgreSQL 15 on loopback (port 16310, scram over TCP) and the real
 * key-sync code path (syncKeys + PgRegistryStore + AtomicFileWriter) that
 * renders authorized_keys; the clock is the test's, so expiry is exact.
 * The attacker is a database superuser: can insert and delete any row, cannot sign.
 */
import t from 'tap';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import pg from 'pg';
import { sh } from '../helpers/loopback-sshd';
import { createLogger } from '../../src/core/log';
import { createToken } from '../../src/core/join-token';
import { scramVerifier } from '../../src/core/scram';
import { generateSigningKeyPair } from '../../src/core/signing';
import { AtomicFileWriter } from '../../src/adapters/atomic-file';
import { PgRegistryStore, applyRegistrySchema } from '../../src/adapters/registry-store';
import { ensureKeyPair, KeyPairInfo } from '../../src/adapters/ssh-keys';
import { KeySyncDeps, KeySyncState, syncKeys } from '../../src/runtime/key-sync';
import { parseGenerations, serializeGenerations } from '../../src/core/row-lifecycle';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_PORT = 16310;
const BASE = '/var/lib/pgswarm-test';
const TTL_S = 120;
// Real time (the database checks a token's expiry against its own clock), then advanced by the test.
const T0 = Math.floor(Date.now() / 1000) * 1000;

interface Env {
  dir: string;
  etc: string;
  uid: number;
  gid: number;
  agent: pg.Client;
  store: PgRegistryStore;
  cluster: { publicKey: string; secretKey: string };
  keys: Record<string, KeyPairInfo>;
  logFile: string;
}
const env = {} as Env;
let nowMs = T0;

function deps(name: string, over: Partial<KeySyncDeps> = {}): KeySyncDeps {
  return {
    store: env.store,
    files: new AtomicFileWriter(),
    clock: () => new Date(nowMs),
    log: createLogger('key-sync', { dest: pino.destination({ dest: env.logFile, sync: true }) }),
    verifyKey: env.cluster.publicKey,
    signingKey: env.cluster.secretKey,
    self: env.keys[`${name}-host`]
      ? { name, host: '127.0.0.1', sshPort: 16311, hostPublicKey: env.keys[`${name}-host`].publicKeyLine, clientPublicKey: env.keys[`${name}-client`].publicKeyLine }
      : undefined,
    authorizedKeysPath: path.join(env.etc, `${name}.authorized_keys`),
    knownHostsPath: path.join(env.etc, `${name}.known_hosts`),
    currentPrimaryCommand: '/usr/local/bin/current-primary',
    nodeName: name,
    // (a cast, so this file also compiles against the code before rows expired: the attack runs there too)
    ...({ rowTtlSeconds: TTL_S } as object),
    ...over,
  } as KeySyncDeps;
}

function authorized(d: KeySyncDeps): string {
  return readFileSync(d.authorizedKeysPath, 'utf8');
}
function has(d: KeySyncDeps, k: KeyPairInfo): boolean {
  return authorized(d).includes(k.publicKeyLine.split(' ')[1]);
}
async function rowOf(k: KeyPairInfo): Promise<Record<string, unknown>> {
  const r = (await env.store.readRows()).find((x) => (x as { fingerprint: string }).fingerprint === k.fingerprint);
  if (!r) throw new Error(`no registry row for ${k.fingerprint}`);
  return r as Record<string, unknown>;
}

t.before(async () => {
  env.uid = Number((await sh('id', ['-u', 'postgres'])).stdout.trim());
  env.gid = Number((await sh('id', ['-g', 'postgres'])).stdout.trim());
  await fsp.mkdir(BASE, { recursive: true, mode: 0o755 });
  env.dir = await fsp.mkdtemp(path.join(BASE, 'registry-expiry-'));
  await fsp.chmod(env.dir, 0o755);
  env.etc = path.join(env.dir, 'etc');
  await fsp.mkdir(env.etc, { mode: 0o755 });
  const sock = path.join(env.dir, 'pgsock');
  await fsp.mkdir(sock, { mode: 0o755 });
  await fsp.chown(sock, env.uid, env.gid);
  const data = path.join(env.dir, 'pgdata');
  await fsp.mkdir(data, { mode: 0o700 });
  await fsp.chown(data, env.uid, env.gid);
  await sh(`${PG_BIN}/initdb`, ['-D', data, '-A', 'peer', '--auth-local=peer', '--no-sync', '-U', 'postgres'], { uid: env.uid, gid: env.gid, timeout: 120_000 });
  await fsp.writeFile(path.join(data, 'pg_hba.conf'), 'local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n');
  await fsp.chown(path.join(data, 'pg_hba.conf'), env.uid, env.gid);
  const pgLog = path.join(env.dir, 'postgres.log');
  await fsp.writeFile(pgLog, '');
  await fsp.chown(pgLog, env.uid, env.gid);
  await sh(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', pgLog, '-w', '-t', '60', '-o', `-k ${sock} -p ${PG_PORT} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=off`, 'start'], { uid: env.uid, gid: env.gid, timeout: 90_000 });
  const pw = randomBytes(18).toString('base64url');
  await sh('psql', ['-X', '-q', '-h', sock, '-p', String(PG_PORT), '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE ROLE agent LOGIN SUPERUSER PASSWORD '${scramVerifier(pw, randomBytes(16))}'`], { uid: env.uid, gid: env.gid });
  env.agent = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user: 'agent', password: pw, database: 'postgres', connectionTimeoutMillis: 5000 });
  await env.agent.connect();
  await applyRegistrySchema(env.agent, {});
  env.store = new PgRegistryStore(env.agent);
  env.cluster = generateSigningKeyPair();
  env.keys = {};
  for (const k of ['node1-host', 'node1-client', 'node1-client-new', 'node2-host', 'node2-client', 'proxy1', 'proxy2']) {
    env.keys[k] = await ensureKeyPair(path.join(env.dir, 'keys', k, 'id_ed25519'), { comment: k });
  }
  env.logFile = path.join(env.dir, 'key-sync.log');
});

t.teardown(async () => {
  await env.agent?.end().catch(() => undefined);
  if (env.dir) {
    await sh(`${PG_BIN}/pg_ctl`, ['-D', path.join(env.dir, 'pgdata'), '-m', 'immediate', '-w', 'stop'], { uid: env.uid, gid: env.gid }).catch(() => undefined);
    if (!process.env.PGSWARM_KEEP_TEST_DIR) await fsp.rm(env.dir, { recursive: true, force: true });
  }
});

// node1 is the writer (it holds the signing key); its state is its memory across ticks.
let node1: KeySyncDeps;
const node1State = new KeySyncState();

t.test('a node re-keyed: its old client row, re-inserted by a superuser, is refused', async (t) => {
  node1 = deps('node1');
  // readerA stands for any other node: it renders authorized_keys from the registry between node1's ticks.
  const readerA = deps('readerA', { signingKey: undefined, self: undefined });
  const readerAState = new KeySyncState();
  await syncKeys(node1, node1State);
  await syncKeys(readerA, readerAState);
  t.ok(has(readerA, env.keys['node1-client']), 'the first client key is authorised');
  const old = await rowOf(env.keys['node1-client']);

  node1.self = { ...node1.self!, clientPublicKey: env.keys['node1-client-new'].publicKeyLine };
  nowMs += 1000;
  await syncKeys(node1, node1State);
  await syncKeys(readerA, readerAState);
  t.ok(has(readerA, env.keys['node1-client-new']), 'the new client key is authorised');
  t.notOk(has(readerA, env.keys['node1-client']), 'the old one is gone');

  // The attack: the old, validly signed (and unexpired) row is put back.
  await env.store.insertRow(old as never);
  await syncKeys(readerA, readerAState);
  t.notOk(has(readerA, env.keys['node1-client']), 'replayed old client key NOT in authorized_keys');
  // A reader that never saw anything before refuses it too: the newer row is in the table.
  const fresh = deps('reader', { signingKey: undefined, self: undefined });
  await syncKeys(fresh, new KeySyncState());
  t.notOk(has(fresh, env.keys['node1-client']), 'replayed old client key NOT in a fresh reader\'s authorized_keys');
  t.ok(has(fresh, env.keys['node1-client-new']), 'the current key is');

  // The superuser also deletes the newer row: a reader that saw it remembers its generation.
  await env.agent.query('DELETE FROM pgswarm.registry WHERE fingerprint = $1', [env.keys['node1-client-new'].fingerprint]);
  await syncKeys(readerA, readerAState);
  t.notOk(has(readerA, env.keys['node1-client']), 'old key still refused after the newer row was deleted');
  t.notOk(has(readerA, env.keys['node1-client-new']), 'the current key is gone meanwhile (denial of service, no more)');
  // The owner republishes its current key at its next tick; from then on every reader refuses the old one again.
  await syncKeys(node1, node1State);
  await syncKeys(readerA, readerAState);
  await syncKeys(fresh, new KeySyncState());
  for (const [n, d] of [['readerA', readerA], ['fresh reader', fresh]] as const) {
    t.notOk(has(d, env.keys['node1-client']), `${n}: old key refused`);
    t.ok(has(d, env.keys['node1-client-new']), `${n}: current key republished by its owner`);
  }
});

t.test('a proxy token revoked: its old row, replayed after deleting the revocation and the tombstone, is refused', async (t) => {
  const token = createToken({ kind: 'proxy', name: 'proxy1', ttlSeconds: 3600, id: 'proxy1-token-a' }, env.cluster.secretKey, nowMs);
  await PgRegistryStore.enroll(env.agent, token, env.keys.proxy1.publicKeyLine);
  await syncKeys(node1, node1State);
  t.ok(has(node1, env.keys.proxy1), 'enrolled proxy key authorised');
  const old = await rowOf(env.keys.proxy1);

  await env.store.revokeToken('proxy1-token-a', 'test');
  nowMs += 1000;
  await syncKeys(node1, node1State);
  t.notOk(has(node1, env.keys.proxy1), 'revoked proxy key removed');

  // The attack: a superuser removes every trace of the revocation and puts the old row back.
  await env.agent.query("DELETE FROM pgswarm.revoked_tokens WHERE token_id = 'proxy1-token-a'");
  await env.agent.query("DELETE FROM pgswarm.registry WHERE kind = 'proxy' AND name = 'proxy1'");
  await env.store.insertRow(old as never);
  await syncKeys(node1, node1State);
  t.notOk(has(node1, env.keys.proxy1), 'replayed revoked proxy key NOT in authorized_keys');
  nowMs += Math.ceil(TTL_S * 1000 * 0.6);
  await syncKeys(node1, node1State);
  t.notOk(has(node1, env.keys.proxy1), 'and the writer does not renew it');
  t.equal((await env.agent.query("SELECT count(*)::int AS n FROM pgswarm.registry WHERE kind = 'proxy' AND name = 'proxy1' AND signature = $1", [old.signature])).rows[0].n, 1,
    'the replayed row is still in the table (the refusal is the reader\'s)');

  // A restarted node restores its memory from its volume (node-extras: registry-generations.json): still refused.
  const restored = new KeySyncState();
  for (const [k, g] of parseGenerations(serializeGenerations(node1State.generations)) ?? []) restored.generations.set(k, g);
  const restarted = deps('restarted', { signingKey: undefined, self: undefined });
  await syncKeys(restarted, restored);
  t.notOk(has(restarted, env.keys.proxy1), 'restarted reader with its restored memory: replayed key NOT authorised');
  // The documented limit: a reader with no memory at all (a brand-new node) trusts the replayed row,
  // but only until that row expires, since nobody who saw the tombstone renews it.
  const blank = deps('blank', { signingKey: undefined, self: undefined });
  await syncKeys(blank, new KeySyncState());
  t.ok(has(blank, env.keys.proxy1), 'brand-new reader: replayed key trusted (limit, bounded by its expiry)');
  nowMs = Date.parse(String(old.expiresAt));
  await syncKeys(node1, node1State);
  await syncKeys(blank, new KeySyncState());
  t.notOk(has(blank, env.keys.proxy1), 'brand-new reader: gone once the replayed row expired');
});

t.test('an expired row is dropped from the rendered file; renewal keeps a live key across its expiry', async (t) => {
  // node2 publishes its keys once and then stops (dies); node1 keeps running and renewing.
  const node2 = deps('node2');
  await syncKeys(node2, new KeySyncState());
  const token = createToken({ kind: 'proxy', name: 'proxy2', ttlSeconds: 3600, id: 'proxy2-token-a' }, env.cluster.secretKey, nowMs);
  await PgRegistryStore.enroll(env.agent, token, env.keys.proxy2.publicKeyLine);
  await syncKeys(node1, node1State);
  const start = nowMs;
  t.ok(has(node1, env.keys['node2-client']), 'node2 client key authorised');
  t.ok(has(node1, env.keys.proxy2), 'proxy2 key authorised');
  const live = [env.keys['node1-client-new'], env.keys.proxy2];
  // Step through twice the lifetime in 10 s ticks: the live keys are present at every tick.
  let missing = 0;
  let node2Gone: number | null = null;
  for (nowMs = start + 10_000; nowMs <= start + 2 * TTL_S * 1000 + 1000; nowMs += 10_000) {
    await syncKeys(node1, node1State);
    for (const k of live) if (!has(node1, k)) missing++;
    if (node2Gone === null && !has(node1, env.keys['node2-client'])) node2Gone = nowMs - start;
  }
  t.equal(missing, 0, 'live keys (node1 client, proxy2) present at every tick across two lifetimes');
  t.ok(node2Gone !== null && node2Gone >= TTL_S * 1000 - 10_000 && node2Gone <= TTL_S * 1000 + 10_000,
    `node2's unrenewed client key dropped at its expiry (after ${node2Gone} ms)`);
  const cur = await rowOf(env.keys.proxy2);
  t.ok(Date.parse(String(cur.expiresAt)) > nowMs, 'the proxy row in the table is a renewed one');
  const log = readFileSync(env.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.ok(log.some((e) => e.event === 'registry-row-ignored' && e.fingerprint === env.keys['node2-client'].fingerprint && e.reason === 'expired'), 'expiry logged with its reason');
});

/**
 * No CA key on the proxies (real PostgreSQL 15 with TLS on loopback, port
 * 16210): a proxy enrolls with its join token and a CSR made in its own
 * volume; a node (which holds the CA key) checks the CSR and issues the
 * certificate, which the proxy fetches and checks. A CSR asking for a data
 * node's name or an IP address is refused; a renewal must be signed with the
 * enrolled SSH key.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import { createLogger } from '../../src/core/log';
import { createToken } from '../../src/core/join-token';
import { generateSigningKeyPair } from '../../src/core/signing';
import { csrProofMessage } from '../../src/core/csr-policy';
import { parseProxyConfig } from '../../src/core/proxy-config';
import { AtomicFileWriter } from '../../src/adapters/atomic-file';
import { PgRegistryStore, applyRegistrySchema } from '../../src/adapters/registry-store';
import { ensureKeyPair } from '../../src/adapters/ssh-keys';
import { enrollProxyIdentity } from '../../src/adapters/proxy-enroll';
import { signWithSshKey } from '../../src/adapters/ssh-proof';
import { childProcessRunner } from '../../src/adapters/child-process-runner';
import { syncKeys, KeySyncState, KeySyncDeps } from '../../src/runtime/key-sync';
import { proxyCertificateIssuer } from '../../src/runtime/proxy-certificates';
import { makeTempDir, makeTls, instance, initPrimary, stopPg, direct, SUPER_PW, Tls, PgInstance } from '../helpers/proxy-fixtures';

const PG_PORT = 16210;
const ENROLL_PW = 'enroll-password-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openssl(args: string[], input?: string) {
  return childProcessRunner.run('openssl', args, { timeoutMs: 20000, input });
}

t.test('a proxy gets its TLS certificate from a node; it never holds the CA key', { timeout: 240000 }, async (t) => {
  const dir = makeTempDir('pgswarm-proxy-csr');
  const inst: PgInstance = instance(dir, 'pgnode1', PG_PORT);
  const logLines: string[] = [];
  const dest = new Writable({ write(chunk, _e, cb) { logLines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  const log = createLogger('test', { dest, level: 'debug' });
  let stopSync = false;
  let syncing: Promise<void> = Promise.resolve();
  let stopIdentity: (() => void) | undefined;
  const agent = new Client({ host: '127.0.0.1', port: PG_PORT, user: 'postgres', password: SUPER_PW, database: 'postgres', ssl: { rejectUnauthorized: false } });
  agent.on('error', () => undefined);
  t.teardown(async () => {
    stopSync = true;
    stopIdentity?.();
    await syncing;
    await agent.end().catch(() => undefined);
    await stopPg(inst, 'immediate').catch(() => undefined);
    if (process.env.PGSWARM_KEEP_TMP) { fs.writeFileSync(path.join(dir, 'test.log'), logLines.join('\n')); return; }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tls: Tls = await makeTls(dir);
  await initPrimary(dir, inst, tls);
  const cluster = generateSigningKeyPair();
  await direct(tls, PG_PORT, async (c) => applyRegistrySchema(c, { enrollPassword: ENROLL_PW }));
  await agent.connect();
  const hostKey = await ensureKeyPair(path.join(dir, 'node-ssh', 'ssh_host_ed25519_key'), { comment: 'pgnode1 host' });
  // the node: countersigns enrollments and signs CSRs with the CA key it holds
  const deps: KeySyncDeps = {
    store: new PgRegistryStore(agent), files: new AtomicFileWriter(), clock: () => new Date(), log,
    verifyKey: cluster.publicKey, signingKey: cluster.secretKey,
    self: { name: 'pgnode1', host: '127.0.0.1', sshPort: 22, hostPublicKey: hostKey.publicKeyLine },
    authorizedKeysPath: path.join(dir, 'node-ssh', 'authorized_keys'), knownHostsPath: path.join(dir, 'node-ssh', 'known_hosts'),
    currentPrimaryCommand: '/bin/false', nodeName: 'pgnode1',
    issueProxyCertificate: proxyCertificateIssuer({ caCert: tls.caCert, caKey: tls.caKey, reservedNames: ['pgnode1', 'pgnode2', '127.0.0.1'] }),
  };
  const state = new KeySyncState();
  const loop = async () => {
    while (!stopSync) {
      await syncKeys(deps, state).catch((e) => log.error({ event: 'sync-failed', err: (e as Error).message }, 'sync failed'));
      await sleep(300);
    }
  };
  syncing = loop();

  const token = createToken({ kind: 'proxy', name: 'pgproxy1', ttlSeconds: 600 }, cluster.secretKey, Date.now());
  const penv: Record<string, string> = {
    PGSWARM_PROXY_NAME: 'pgproxy1',
    PGSWARM_PEERS: `pgnode1@127.0.0.1:${PG_PORT}:22`,
    PGSWARM_PROXY_HOME: path.join(dir, 'proxy'),
    PGSWARM_PROXY_HEALTH_DIR: path.join(dir, 'proxy-health'),
    PGSWARM_CA_CERT_FILE: tls.caCert,
    PGSWARM_AUTH_PASSWORD: 'auth-password',
    PGSWARM_STATS_PASSWORD: 'stats-password',
    PGSWARM_JOIN_TOKEN: token,
    PGSWARM_ENROLL_PASSWORD: ENROLL_PW,
    PGSWARM_VERIFY_KEY: cluster.publicKey,
    PGSWARM_SSH_TIMEOUT_MS: '3000',
  };
  const parsed = parseProxyConfig({ env: penv, readFile: (p) => fs.readFileSync(p, 'utf8') });
  t.same(parsed.errors, [], 'a proxy config without the CA key and without a certificate parses (the certificate comes with the enrollment)');
  const withKey = parseProxyConfig({ env: { ...penv, PGSWARM_CA_KEY_FILE: tls.caKey }, readFile: (p) => fs.readFileSync(p, 'utf8') });
  t.match(withKey.errors.join('\n'), /no longer takes the CA key/, 'a proxy given the CA key refuses to start');
  const config = parsed.config!;

  let timer: NodeJS.Timeout | undefined;
  const id = await Promise.race([
    enrollProxyIdentity(config, log, 300),
    new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no enrollment within 60 s: ${logLines.slice(-5).join('\n')}`)), 60000); }),
  ]).finally(() => clearTimeout(timer));
  stopIdentity = id.stop;
  t.ok(id.tls, 'the proxy has a client-facing certificate');
  const cert = id.tls!.cert;
  t.equal((await openssl(['verify', '-CAfile', tls.caCert, '-verify_hostname', 'pgproxy1', cert])).code, 0, 'the certificate verifies against the CA with the proxy\'s name');
  t.not((await openssl(['verify', '-CAfile', tls.caCert, '-verify_hostname', 'pgnode1', cert])).code, 0, 'and not for a node\'s name');
  t.not((await openssl(['verify', '-CAfile', tls.caCert, '-verify_ip', '127.0.0.1', cert])).code, 0, 'nor for an IP address');
  const text = (await openssl(['x509', '-noout', '-text', '-in', cert])).stdout;
  t.match(text, /CA:FALSE/, 'CA:FALSE');
  t.match(text, /TLS Web Server Authentication/, 'serverAuth');
  t.notMatch(text, /TLS Web Client Authentication/, 'not clientAuth');
  t.match(text, /DNS:pgproxy1\s*$/m, 'SAN is exactly the proxy name');
  t.equal((fs.statSync(id.tls!.key).mode & 0o777), 0o600, 'TLS key 0600 in the proxy volume');
  t.notOk(fs.readdirSync(path.join(dir, 'proxy'), { recursive: true }).some((f) => String(f).includes('ca.key')), 'no CA key anywhere in the proxy volume');

  // An attacker with a valid join token (or a compromised proxy) asks for a node's name or an IP.
  const enrollAs = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ host: '127.0.0.1', port: PG_PORT, user: 'pgswarm_enroll', password: ENROLL_PW, database: 'postgres', ssl: { ca: fs.readFileSync(tls.caCert, 'utf8'), rejectUnauthorized: true } });
    c.on('error', () => undefined);
    await c.connect();
    try { return await fn(c); } finally { await c.end().catch(() => undefined); }
  };
  const keyDir = path.join(dir, 'evil');
  fs.mkdirSync(keyDir, { mode: 0o700 });
  const evilKey = path.join(keyDir, 'k.pem');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', evilKey]);
  const csrFor = async (subj: string, san: string) => (await openssl(['req', '-new', '-key', evilKey, '-subj', subj, '-addext', `subjectAltName=${san}`])).stdout;
  const evilSsh = await ensureKeyPair(path.join(dir, 'evil-ssh', 'id_ed25519'), { comment: 'evil' });
  const waitDecided = async (rid: number, pub: string) => {
    for (let i = 0; i < 100; i++) {
      const r = await enrollAs((c) => PgRegistryStore.enrollmentResult(c, rid, pub));
      if (r && r.status !== 'pending') return r;
      await sleep(200);
    }
    throw new Error(`request ${rid} not decided`);
  };
  const attempts: [string, string, string, RegExp][] = [
    ['a node name in the SAN', '/CN=evilproxy', 'DNS:evilproxy,DNS:pgnode1', /names other than evilproxy: pgnode1/],
    ['a node name as subject', '/CN=pgnode1', 'DNS:pgnode1', /subject must be exactly CN=evilproxy/],
    ['an IP address', '/CN=evilproxy', 'DNS:evilproxy,IP:127.0.0.1', /IP addresses 127\.0\.0\.1/],
  ];
  for (const [what, subj, san, re] of attempts) {
    const tok = createToken({ kind: 'proxy', name: 'evilproxy', ttlSeconds: 600 }, cluster.secretKey, Date.now());
    const csr = await csrFor(subj, san);
    const rid = await enrollAs((c) => PgRegistryStore.enrollWithCsr(c, tok, evilSsh.publicKeyLine, csr));
    const r = await waitDecided(rid, evilSsh.publicKeyLine);
    t.equal(r.status, 'refused', `${what}: refused`);
    t.match(r.reason, /bad-csr/, `${what}: reason bad-csr`);
    t.equal(r.certificate, null, `${what}: no certificate`);
    const detail = logLines.map((l) => JSON.parse(l)).filter((e) => e.event === 'enrollment-refused').flatMap((e) => e.examples).find((e) => e.requestId === rid);
    t.match(detail?.detail, re, `${what}: logged why`);
  }
  t.equal((await agent.query("SELECT count(*)::int AS n FROM pgswarm.registry WHERE kind = 'proxy' AND name = 'evilproxy'")).rows[0].n, 0, 'and the key was not enrolled either');

  // Renewal (the token may have expired by then): the CSR must be signed with the enrolled SSH key.
  const proxyKeyPath = path.join(config.home, 'ssh', 'id_ed25519');
  const renewCsr = (await openssl(['req', '-new', '-key', id.tls!.key, '-subj', '/CN=pgproxy1', '-addext', 'subjectAltName=DNS:pgproxy1'])).stdout;
  const badProof = signWithSshKey(fs.readFileSync(path.join(dir, 'evil-ssh', 'id_ed25519')), csrProofMessage(renewCsr));
  const rBad = await enrollAs((c) => PgRegistryStore.renewCertificate(c, id.publicKeyLine, renewCsr, badProof));
  const decidedBad = await waitDecided(rBad, id.publicKeyLine);
  t.same([decidedBad.status, decidedBad.reason, decidedBad.certificate], ['refused', 'bad-proof', null], 'a renewal signed with another key is refused');
  await t.rejects(enrollAs((c) => PgRegistryStore.renewCertificate(c, evilSsh.publicKeyLine, renewCsr, badProof)), /key not enrolled/, 'a key that is not enrolled cannot ask for renewal (refused by the database)');
  const proof = signWithSshKey(fs.readFileSync(proxyKeyPath), csrProofMessage(renewCsr));
  const rOk = await enrollAs((c) => PgRegistryStore.renewCertificate(c, id.publicKeyLine, renewCsr, proof));
  const decidedOk = await waitDecided(rOk, id.publicKeyLine);
  t.equal(decidedOk.status, 'accepted', 'a renewal signed with the enrolled key is answered');
  fs.writeFileSync(path.join(dir, 'renewed.crt'), decidedOk.certificate ?? '');
  t.equal((await openssl(['verify', '-CAfile', tls.caCert, '-verify_hostname', 'pgproxy1', path.join(dir, 'renewed.crt')])).code, 0, 'the renewed certificate verifies for pgproxy1');
});

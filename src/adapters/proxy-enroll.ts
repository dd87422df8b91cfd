import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { ProxyConfig } from '../core/proxy-config';
import type { Logger } from '../core/log';
import type { Member } from '../core/node-config';
import { ensureKeyPair } from './ssh-keys';
import { pgClientConfig, closeClient } from './pg-connect';
import { PgRegistryStore } from './registry-store';
import { verifyRows } from '../core/registry-row';
import { knownHostEntriesFromRows, KnownHostEntry } from '../core/host-verifier';
import { makeKeyAndCsr, certificateSecondsLeft } from './csr-signer';
import { signWithSshKey } from './ssh-proof';
import { csrProofMessage } from '../core/csr-policy';
import { writeFileExclusive } from './atomic-file';
import { lookupUser } from './os-users';
import { childProcessRunner } from './child-process-runner';

/**
 * A proxy's identity: its SSH key, generated in its own volume and never sent
 * anywhere; enrolled once with its join token through the low-privilege
 * enrollment role; known_hosts built from signed host-key rows that the proxy
 * verifies itself with the cluster's verify key (never trust on first use).
 */
export interface ProxyIdentity {
  privateKey: Buffer;
  publicKeyLine: string;
  knownHosts: () => readonly KnownHostEntry[];
  /** PgBouncer's client-facing certificate and key, issued by a node from this proxy's CSR (absent when given by the operator). */
  tls?: { cert: string; key: string };
  /** Called after the certificate was renewed in place (reload PgBouncer). */
  onCertificateRenewed: (fn: () => Promise<void> | void) => void;
  stop: () => void;
}

/** Renew when less than this is left (certificates are issued for 90 days). */
export const RENEW_BEFORE_S = 30 * 86400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withEnrollRole<T>(c: ProxyConfig, m: Member, fn: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client(pgClientConfig({ host: m.host, port: m.port, user: c.enrollUser, password: c.enrollPassword ?? '', database: 'postgres', caFile: c.caCertFile, timeoutMs: c.sshTimeoutMs }));
  db.on('error', () => undefined);
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await closeClient(db);
  }
}

/** Reads the signed host-key rows from any member and keeps only those whose signature verifies. */
export async function fetchKnownHosts(c: ProxyConfig, log: Logger): Promise<KnownHostEntry[] | null> {
  for (const m of c.members) {
    try {
      const rows = await withEnrollRole(c, m, async (db) => (await db.query('SELECT * FROM pgswarm.host_keys()')).rows);
      const raw = rows.map((x) => ({
        kind: x.kind, name: x.name, fingerprint: x.fingerprint, publicKey: x.public_key, host: x.host, port: x.port, aliases: x.aliases, tokenId: x.token_id,
        createdAt: x.created_at instanceof Date ? x.created_at.toISOString() : x.created_at,
        expiresAt: x.expires_at instanceof Date ? x.expires_at.toISOString() : x.expires_at,
        signedBy: x.signed_by, signature: x.signature, generation: x.generation, retired: x.retired,
      }));
      const v = verifyRows(raw, c.verifyKey!, new Date());
      for (const ig of v.ignored) log.warn({ event: 'host-key-row-ignored', fingerprint: ig.fingerprint, name: ig.name, reason: ig.reason }, `ignoring host key row of ${ig.name}: ${ig.reason}`);
      return knownHostEntriesFromRows(v.trusted);
    } catch (e) {
      log.debug({ event: 'host-keys-unavailable', member: m.name, err: (e as Error).message }, 'cannot read host keys from this member');
    }
  }
  return null;
}

/** Submits the key with the join token on the writable primary and waits for a node to countersign it. */
type Outcome = { ok: true; certificate: string | null } | { ok: false; why: string };

/**
 * Submits the key with the join token (and the CSR, if any) on the writable primary and waits for a node to
 * countersign it. With `renew` (key already enrolled, certificate wanted): a renewal signed with the SSH key.
 */
async function enrollOnce(c: ProxyConfig, pub: string, log: Logger, csr: string | null, proof: string | null): Promise<Outcome> {
  let lastErr = 'no member reachable';
  for (const m of c.members) {
    try {
      return await withEnrollRole(c, m, async (db): Promise<Outcome> => {
        const enrolled = (await db.query('SELECT pgswarm.key_enrolled($1) AS e', [pub])).rows[0].e === true;
        if (enrolled && !csr) return { ok: true, certificate: null };
        const rec = (await db.query('SELECT pg_is_in_recovery() AS r')).rows[0].r as boolean;
        if (rec) throw new Error(`${m.name} is a standby`);
        let id: number;
        if (enrolled && csr && proof) id = await PgRegistryStore.renewCertificate(db, pub, csr, proof);
        else if (csr) id = await PgRegistryStore.enrollWithCsr(db, c.joinToken!, pub, csr);
        else id = await PgRegistryStore.enroll(db, c.joinToken!, pub);
        log.info({ event: 'enroll-requested', member: m.name, requestId: id, renewal: enrolled, certificate: csr !== null }, `${enrolled ? 'certificate renewal' : 'enrollment'} request ${id} submitted to ${m.name}`);
        for (let i = 0; i < 60; i++) {
          const st = await PgRegistryStore.enrollmentResult(db, id, pub);
          if (st && st.status === 'accepted') return { ok: true, certificate: st.certificate };
          if (st && st.status === 'refused') return { ok: false, why: `refused: ${st.reason}` };
          if (!st) return { ok: false, why: 'request vanished (purged as expired)' };
          await sleep(500);
        }
        return { ok: false, why: 'no node countersigned the request within 30 s' };
      });
    } catch (e) {
      lastErr = `${m.name}: ${(e as Error).message}`;
    }
  }
  return { ok: false, why: lastErr };
}

/** Certificate usable: signed by the cluster CA and more than RENEW_BEFORE_S left. */
async function certificateUsable(caFile: string, cert: string): Promise<boolean> {
  if (!fs.existsSync(cert)) return false;
  const v = await childProcessRunner.run('openssl', ['verify', '-CAfile', caFile, cert], { timeoutMs: 10000 });
  if (v.code !== 0) return false;
  const left = await certificateSecondsLeft(cert);
  return left !== null && left > RENEW_BEFORE_S;
}

/** Writes an issued certificate after checking it chains to the CA and belongs to our key. */
async function installCertificate(c: ProxyConfig, pem: string, keyFile: string, certFile: string): Promise<void> {
  const tmp = `${certFile}.check`;
  writeFileExclusive(tmp, pem, 0o644);
  try {
    const v = await childProcessRunner.run('openssl', ['verify', '-CAfile', c.caCertFile, tmp], { timeoutMs: 10000 });
    if (v.code !== 0) throw new Error(`issued certificate does not verify against the cluster CA: ${v.stderr.trim()}`);
    const a = await childProcessRunner.run('openssl', ['x509', '-noout', '-pubkey', '-in', tmp], { timeoutMs: 10000 });
    const b = await childProcessRunner.run('openssl', ['pkey', '-pubout', '-in', keyFile], { timeoutMs: 10000 });
    if (a.code !== 0 || b.code !== 0 || a.stdout.trim() !== b.stdout.trim()) throw new Error('issued certificate is not for this proxy\'s TLS key');
    fs.renameSync(tmp, certFile);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export async function enrollProxyIdentity(c: ProxyConfig, log: Logger, retryMs = 2000): Promise<ProxyIdentity> {
  if (!c.joinToken || !c.verifyKey || !c.enrollPassword) throw new Error('enrollment needs PGSWARM_JOIN_TOKEN, PGSWARM_VERIFY_KEY and PGSWARM_ENROLL_PASSWORD');
  const keyPath = path.join(c.home, 'ssh', 'id_ed25519');
  const kp = await ensureKeyPair(keyPath, { comment: `${c.proxyName} proxy` });
  log.info({ event: 'ssh-key', fingerprint: kp.fingerprint, created: kp.created }, 'proxy SSH key ready (generated here; only its public half is sent)');
  const sshPrivate = fs.readFileSync(keyPath);
  // PgBouncer's client-facing certificate: its key is made here, a data node signs the CSR (the CA key never comes here).
  const ownTls = !(c.tlsCertFile && c.tlsKeyFile);
  const tlsDir = path.join(c.home, 'tls');
  const certFile = path.join(tlsDir, 'server.crt');
  const owner = process.getuid?.() === 0 ? lookupUser(c.runUser) : undefined;
  let tlsKeyFile = '';
  const wantCertificate = async (): Promise<string | null> => {
    if (!ownTls || await certificateUsable(c.caCertFile, certFile)) return null;
    const k = await makeKeyAndCsr(tlsDir, c.proxyName, owner);
    tlsKeyFile = k.key;
    return k.csr;
  };
  if (ownTls) tlsKeyFile = path.join(tlsDir, 'server.key');
  const obtain = async (what: string, tries = Infinity): Promise<void> => {
    for (let n = 0; ; n++) {
      if (n >= tries) throw new Error(`no certificate after ${tries} attempt(s)`);
      const csr = await wantCertificate();
      const proof = csr ? signWithSshKey(sshPrivate, csrProofMessage(csr)) : null;
      const r = await enrollOnce(c, kp.publicKeyLine, log, csr, proof);
      if (r.ok && csr && !r.certificate) {
        log.warn({ event: 'enroll-retry', reason: 'no certificate issued' }, 'enrolled, but no certificate came back; asking again');
      } else if (r.ok) {
        if (csr && r.certificate) {
          await installCertificate(c, r.certificate, tlsKeyFile, certFile);
          log.info({ event: 'tls-certificate', issuedBy: 'node', reason: what }, 'client-facing TLS certificate issued by a node from our CSR');
        }
        return;
      } else {
        log.warn({ event: 'enroll-retry', reason: r.why }, `not enrolled yet: ${r.why}; retrying in ${retryMs} ms`);
        await sleep(r.why.startsWith('refused') ? retryMs * 5 : retryMs);
        continue;
      }
      await sleep(retryMs);
    }
  };
  await obtain('first start or certificate missing/expiring');
  log.info({ event: 'enrolled', fingerprint: kp.fingerprint }, 'proxy key enrolled and countersigned');
  let known: KnownHostEntry[] = [];
  while (known.length === 0) {
    known = (await fetchKnownHosts(c, log)) ?? [];
    if (!known.length) await sleep(retryMs);
  }
  let stopped = false;
  let onRenewed: () => Promise<void> | void = () => undefined;
  let lastCertCheck = Date.now();
  const refresh = async () => {
    while (!stopped) {
      await sleep(10000);
      const k = await fetchKnownHosts(c, log).catch(() => null);
      if (k && k.length) known = k;
      if (ownTls && Date.now() - lastCertCheck > 3600_000) {
        lastCertCheck = Date.now();
        if (!(await certificateUsable(c.caCertFile, certFile).catch(() => true))) {
          // one attempt per hour: the known_hosts refresh above must keep going meanwhile
          await obtain('certificate expires within 30 days', 1).then(() => onRenewed(), (e) => log.error({ event: 'tls-renew-failed', err: (e as Error).message }, 'certificate renewal failed'));
        }
      }
    }
  };
  void refresh();
  return {
    privateKey: sshPrivate, publicKeyLine: kp.publicKeyLine, knownHosts: () => known, stop: () => (stopped = true),
    tls: ownTls ? { cert: certFile, key: tlsKeyFile } : undefined,
    onCertificateRenewed: (fn) => { onRenewed = fn; },
  };
}

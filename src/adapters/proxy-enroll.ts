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
  stop: () => void;
}

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
async function enrollOnce(c: ProxyConfig, pub: string, log: Logger): Promise<'accepted' | string> {
  let lastErr = 'no member reachable';
  for (const m of c.members) {
    try {
      return await withEnrollRole(c, m, async (db) => {
        if ((await db.query('SELECT pgswarm.key_enrolled($1) AS e', [pub])).rows[0].e === true) return 'accepted';
        const rec = (await db.query('SELECT pg_is_in_recovery() AS r')).rows[0].r as boolean;
        if (rec) throw new Error(`${m.name} is a standby`);
        const id = await PgRegistryStore.enroll(db, c.joinToken!, pub);
        log.info({ event: 'enroll-requested', member: m.name, requestId: id }, `enrollment request ${id} submitted to ${m.name}`);
        for (let i = 0; i < 60; i++) {
          const st = await PgRegistryStore.enrollmentStatus(db, id, pub);
          if (st && st.status === 'accepted') return 'accepted';
          if (st && st.status === 'refused') return `refused: ${st.reason}`;
          await sleep(500);
        }
        return 'no node countersigned the request within 30 s';
      });
    } catch (e) {
      lastErr = `${m.name}: ${(e as Error).message}`;
    }
  }
  return lastErr;
}

export async function enrollProxyIdentity(c: ProxyConfig, log: Logger, retryMs = 2000): Promise<ProxyIdentity> {
  if (!c.joinToken || !c.verifyKey || !c.enrollPassword) throw new Error('enrollment needs PGSWARM_JOIN_TOKEN, PGSWARM_VERIFY_KEY and PGSWARM_ENROLL_PASSWORD');
  const keyPath = path.join(c.home, 'ssh', 'id_ed25519');
  const kp = await ensureKeyPair(keyPath, { comment: `${c.proxyName} proxy` });
  log.info({ event: 'ssh-key', fingerprint: kp.fingerprint, created: kp.created }, 'proxy SSH key ready (generated here; only its public half is sent)');
  for (;;) {
    const r = await enrollOnce(c, kp.publicKeyLine, log);
    if (r === 'accepted') break;
    log.warn({ event: 'enroll-retry', reason: r }, `not enrolled yet: ${r}; retrying in ${retryMs} ms`);
    if (r.startsWith('refused')) await sleep(retryMs * 5);
    else await sleep(retryMs);
  }
  log.info({ event: 'enrolled', fingerprint: kp.fingerprint }, 'proxy key enrolled and countersigned');
  let known: KnownHostEntry[] = [];
  while (known.length === 0) {
    known = (await fetchKnownHosts(c, log)) ?? [];
    if (!known.length) await sleep(retryMs);
  }
  let stopped = false;
  const refresh = async () => {
    while (!stopped) {
      await sleep(10000);
      const k = await fetchKnownHosts(c, log).catch(() => null);
      if (k && k.length) known = k;
    }
  };
  void refresh();
  return { privateKey: fs.readFileSync(keyPath), publicKeyLine: kp.publicKeyLine, knownHosts: () => known, stop: () => (stopped = true) };
}

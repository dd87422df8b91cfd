import type { Logger } from '../core/log';
import { verifyToken } from '../core/join-token';
import { RegistryRow, signRow, verifyRows, IgnoredRow, UnsignedRow, VerifyResult } from '../core/registry-row';
import { DEFAULT_ROW_TTL_SECONDS, MAX_ROW_TTL_SECONDS, needsRenewal, nextGeneration, rowKey } from '../core/row-lifecycle';
import { authorizedKeys, knownHosts } from '../core/render-ssh';
import { parsePublicKey } from '../core/ssh-public-key';
import type { FileWriter, RegistryStore, EnrollmentRequest } from '../ports/ssh-identity';
import { csrProofMessage } from '../core/csr-policy';
import { verifySshSignature } from '../adapters/ssh-proof';

/** Signs a proxy's CSR for its enrolled name (policy-checked), or says why not. Only nodes with the CA key have one. */
export type IssueProxyCertificate = (csrPem: string, proxyName: string) => Promise<{ ok: true; pem: string } | { ok: false; reason: string }>;

/**
 * Key sync: reads the registry, trusts only rows signed with the cluster key,
 * renders authorized_keys and known_hosts and writes them when they change.
 * On the primary, and only with the signing key, it also countersigns
 * enrolled proxy keys, publishes this node's own public keys and renews them
 * (and live proxy keys) at half-life, and replaces the rows of revoked proxy
 * tokens with signed tombstones (docs/security.md, "Registry rows: expiry
 * and revocation").
 */
export interface SelfKeys {
  name: string;
  /** How others reach this node's sshd. */
  host: string;
  sshPort: number;
  aliases?: string[];
  /** "ssh-ed25519 AAAA..." of /…/ssh_host_ed25519_key.pub */
  hostPublicKey: string;
  /** public half of the key the node's repmgr/ssh uses; none on a witness (it runs nothing on other nodes) */
  clientPublicKey?: string;
}

export interface KeySyncDeps {
  store: RegistryStore;
  files: FileWriter;
  clock: () => Date;
  log: Logger;
  verifyKey: string;
  /** Only pgnode has it; without it nothing is signed (no enrollment, no publishing). */
  signingKey?: string;
  self?: SelfKeys;
  authorizedKeysPath: string;
  /** The answer account's key file (proxy keys only); without it proxy keys go into authorizedKeysPath (renderer tests only). */
  answerKeysPath?: string;
  knownHostsPath: string;
  /** Owner of authorized_keys: root (sshd reads it; the postgres user must not be able to write it). */
  authorizedKeysOwner?: { uid: number; gid: number };
  /** Owner of known_hosts (readable by whoever runs ssh; 0644). */
  knownHostsOwner?: { uid: number; gid: number };
  /** Forced command for proxy keys, e.g. "/usr/local/bin/current-primary". */
  currentPrimaryCommand: string;
  /** Lifetime of every row this node signs (own keys, proxy keys, tombstones); renewed at half-life. */
  rowTtlSeconds?: number;
  /** Written into enrollment decisions. */
  nodeName?: string;
  /** Answers proxies' certificate requests (sent with the enrollment or as renewals). */
  issueProxyCertificate?: IssueProxyCertificate;
}

export interface SyncReport {
  trusted: number;
  ignored: IgnoredRow[];
  wroteAuthorizedKeys: boolean;
  wroteKnownHosts: boolean;
  enrollments: { id: number; accepted: boolean; reason: string; tokenId: string | null; fingerprint: string | null }[];
  published: string[];
  /** "kind:fingerprint" of rows re-signed with a new expiry (own keys and live proxy keys). */
  renewed: string[];
  /** "kind:fingerprint" of keys replaced by a signed tombstone (revoked proxy tokens). */
  retired: string[];
}

/** Remembers what was already logged, so a row ignored every tick is logged once (and again if it changes). */
export class KeySyncState {
  loggedIgnored = new Set<string>();
  warnedNoSigningKey = false;
  /**
   * Highest signed generation seen per (kind, name), kept across ticks: a row below it stays
   * superseded even after a database superuser deletes the newer row and re-inserts the old one.
   */
  generations = new Map<string, number>();
}

export async function syncKeys(deps: KeySyncDeps, state: KeySyncState = new KeySyncState()): Promise<SyncReport> {
  const { store, log } = deps;
  const report: SyncReport = { trusted: 0, ignored: [], wroteAuthorizedKeys: false, wroteKnownHosts: false, enrollments: [], published: [], renewed: [], retired: [] };

  const read = async () => {
    const revokedIds = await store.revokedTokenIds();
    const v = verifyRows(await store.readRows(), deps.verifyKey, deps.clock(), { revokedTokenIds: revokedIds, seenGenerations: state.generations });
    for (const [k, g] of v.generations) state.generations.set(k, g);
    return { revokedIds, v };
  };
  let { revokedIds: revoked, v: verified } = await read();

  const writable = await store.isWritable();
  if (writable && deps.signingKey) {
    let changed = false;
    changed = (await processEnrollments(deps, revoked, report, state, verified.trusted)) || changed;
    changed = (await retireRevoked(deps, verified, revoked, report, state)) || changed;
    changed = (await renewProxies(deps, verified, revoked, report, state)) || changed;
    changed = (await publishSelf(deps, verified.trusted, report, state)) || changed;
    if (changed) ({ revokedIds: revoked, v: verified } = await read());
  } else if (writable && !deps.signingKey && !state.warnedNoSigningKey) {
    state.warnedNoSigningKey = true;
    log.warn({ event: 'key-sync-no-signing-key' }, 'no cluster signing key: cannot countersign enrollments or publish own keys');
  }

  const seen = new Set<string>();
  for (const ig of verified.ignored) {
    const k = `${ig.kind}|${ig.name}|${ig.fingerprint}|${ig.reason}`;
    seen.add(k);
    if (!state.loggedIgnored.has(k)) {
      log.warn({ event: 'registry-row-ignored', fingerprint: ig.fingerprint, name: ig.name, kind: ig.kind, reason: ig.reason, detail: ig.detail }, `ignoring registry row: ${ig.reason}`);
    }
  }
  state.loggedIgnored = seen;
  report.ignored = verified.ignored;
  report.trusted = verified.trusted.length;

  const split = deps.answerKeysPath !== undefined;
  const ak = authorizedKeys(verified.trusted, { currentPrimaryCommand: deps.currentPrimaryCommand, ...(split ? { only: 'node-client' as const } : {}) });
  const kh = knownHosts(verified.trusted);
  report.wroteAuthorizedKeys = await writeIfChanged(deps, deps.authorizedKeysPath, ak, deps.authorizedKeysOwner ?? { uid: 0, gid: 0 });
  if (split) {
    const answerKeys = authorizedKeys(verified.trusted, { currentPrimaryCommand: deps.currentPrimaryCommand, only: 'proxy' });
    report.wroteAuthorizedKeys = (await writeIfChanged(deps, deps.answerKeysPath!, answerKeys, deps.authorizedKeysOwner ?? { uid: 0, gid: 0 })) || report.wroteAuthorizedKeys;
  }
  report.wroteKnownHosts = await writeIfChanged(deps, deps.knownHostsPath, kh, deps.knownHostsOwner ?? { uid: 0, gid: 0 });
  if (report.wroteAuthorizedKeys || report.wroteKnownHosts) {
    log.info({ event: 'ssh-files-written', authorizedKeys: report.wroteAuthorizedKeys, knownHosts: report.wroteKnownHosts, trusted: report.trusted }, 'ssh trust files updated');
  }
  return report;
}

async function writeIfChanged(deps: KeySyncDeps, path: string, content: string, owner: { uid: number; gid: number }): Promise<boolean> {
  if ((await deps.files.readText(path)) === content) return false;
  await deps.files.writeAtomic(path, content, { mode: 0o644, uid: owner.uid, gid: owner.gid });
  return true;
}

function ttlSeconds(deps: KeySyncDeps): number {
  return deps.rowTtlSeconds ?? DEFAULT_ROW_TTL_SECONDS;
}

/** Signs the next generation of (kind, name) and remembers it, so later signatures in the same tick go higher. */
function signNext(deps: KeySyncDeps, state: KeySyncState, fields: Omit<UnsignedRow, 'generation' | 'createdAt' | 'expiresAt'>, expiresAtMs?: number): RegistryRow {
  const now = deps.clock().getTime();
  const generation = nextGeneration(fields.kind, fields.name, state.generations);
  const row = signRow({
    ...fields,
    generation,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(expiresAtMs ?? now + ttlSeconds(deps) * 1000).toISOString(),
  }, deps.signingKey as string);
  state.generations.set(rowKey(row.kind, row.name), generation);
  return row;
}

async function processEnrollments(deps: KeySyncDeps, revoked: Set<string>, report: SyncReport, state: KeySyncState, trusted: RegistryRow[]): Promise<boolean> {
  const { store, log } = deps;
  const pending = await store.listPendingEnrollments();
  let changed = false;
  // Refusals are summarised: one line per round, not one per junk request.
  const refusedBy = new Map<string, number>();
  const examples: { requestId: number; tokenId: string | null; fingerprint: string | null; reason: string; detail: string }[] = [];
  if (pending.length) {
    const uses = await store.tokenUses();
    const by = deps.nodeName ?? deps.self?.name ?? 'pgnode';
    for (const req of pending) {
      const parsed = parsePublicKey(req.publicKey);
      const fp = parsed.ok ? parsed.key.fingerprint : null;
      const refuse = async (reason: string, detail: string, tokenId: string | null) => {
        await store.refuseEnrollment(req.id, tokenId, reason, by);
        report.enrollments.push({ id: req.id, accepted: false, reason, tokenId, fingerprint: fp });
        refusedBy.set(reason, (refusedBy.get(reason) ?? 0) + 1);
        if (examples.length < 5) examples.push({ requestId: req.id, tokenId, fingerprint: fp, reason, detail: detail.slice(0, 200) });
      };
      if (!parsed.ok) {
        await refuse('bad-public-key', `${parsed.reason}: ${parsed.detail}`, null);
        continue;
      }
      if (!req.token) {
        const r = await renewCertificate(deps, req, parsed.key.line, trusted);
        if (!r.ok) await refuse(r.reason, r.detail, null);
        else {
          await store.completeCertificateRequest!(req.id, r.pem, by);
          report.enrollments.push({ id: req.id, accepted: true, reason: 'certificate-renewed', tokenId: null, fingerprint: fp });
          log.info({ event: 'proxy-certificate-renewed', requestId: req.id, proxy: r.name, fingerprint: fp }, `issued a new TLS certificate to proxy ${r.name}`);
        }
        continue;
      }
      const check = verifyToken(req.token, deps.verifyKey, deps.clock(), revoked, uses, parsed.key.fingerprint);
      if (!check.ok) {
        await refuse(check.reason, check.detail, check.tokenId ?? null);
        continue;
      }
      let certificate: string | null = null;
      if (req.csr) {
        if (!deps.issueProxyCertificate) {
          // another node (with the CA key) will decide it
          continue;
        }
        const issued = await deps.issueProxyCertificate(req.csr, check.payload.name);
        if (!issued.ok) {
          await refuse('bad-csr', issued.reason, check.payload.id);
          continue;
        }
        certificate = issued.pem;
      }
      const row = signNext(deps, state, { kind: 'proxy', name: check.payload.name, publicKey: parsed.key.line, tokenId: check.payload.id });
      const ok = await store.acceptEnrollment(req.id, check.payload.id, row, by, certificate);
      if (!ok) {
        report.enrollments.push({ id: req.id, accepted: false, reason: 'reused', tokenId: check.payload.id, fingerprint: fp });
        refusedBy.set('reused', (refusedBy.get('reused') ?? 0) + 1);
        if (examples.length < 5) examples.push({ requestId: req.id, tokenId: check.payload.id, fingerprint: fp, reason: 'reused', detail: 'token bound to another key or revoked meanwhile' });
        continue;
      }
      uses.set(check.payload.id, parsed.key.fingerprint);
      changed = true;
      report.enrollments.push({ id: req.id, accepted: true, reason: 'ok', tokenId: check.payload.id, fingerprint: fp });
      log.info({ event: 'enrollment-accepted', requestId: req.id, tokenId: check.payload.id, proxy: check.payload.name, fingerprint: fp, certificate: certificate !== null }, 'proxy key countersigned into the registry');
    }
  }
  if (refusedBy.size) {
    const total = [...refusedBy.values()].reduce((x, y) => x + y, 0);
    log.warn({ event: 'enrollment-refused', count: total, reasons: Object.fromEntries(refusedBy), examples }, `refused ${total} enrollment request(s): ${[...refusedBy].map(([r, n]) => `${r} ${n}`).join(', ')}`);
  }
  if (store.purgeEnrollments) {
    const p = await store.purgeEnrollments();
    if (p.refused + p.expired + p.accepted > 0) {
      log.info({ event: 'enrollment-requests-purged', refused: p.refused, expired: p.expired, accepted: p.accepted }, `purged ${p.refused} refused, ${p.expired} expired and ${p.accepted} old accepted enrollment request(s)`);
    }
  }
  return changed;
}

/** A renewal: the key must be a trusted proxy key, the CSR signed with it, and the CSR acceptable for that proxy's name. */
async function renewCertificate(deps: KeySyncDeps, req: EnrollmentRequest, keyLine: string, trusted: RegistryRow[]): Promise<{ ok: true; pem: string; name: string } | { ok: false; reason: string; detail: string }> {
  if (!req.csr || !req.proof) return { ok: false, reason: 'malformed', detail: 'no token and no signed certificate request' };
  if (!deps.issueProxyCertificate || !deps.store.completeCertificateRequest) return { ok: false, reason: 'no-ca', detail: 'this node cannot issue certificates' };
  const blob = keyLine.split(' ')[1];
  const row = trusted.find((r) => r.kind === 'proxy' && r.publicKey.split(' ')[1] === blob);
  if (!row) return { ok: false, reason: 'not-enrolled', detail: 'key is not a trusted proxy key' };
  if (!verifySshSignature(keyLine, csrProofMessage(req.csr), req.proof)) return { ok: false, reason: 'bad-proof', detail: 'CSR not signed with the enrolled key' };
  const issued = await deps.issueProxyCertificate(req.csr, row.name);
  if (!issued.ok) return { ok: false, reason: 'bad-csr', detail: issued.reason };
  return { ok: true, pem: issued.pem, name: row.name };
}

/**
 * A proxy row whose join token is revoked is replaced by a signed tombstone of the next generation
 * (same key, retired), so re-inserting the old row later is refused as superseded, even by a reader
 * that never saw the revocation. The tombstone lives at least as long as the row it retires.
 */
async function retireRevoked(deps: KeySyncDeps, verified: VerifyResult, revoked: Set<string>, report: SyncReport, state: KeySyncState): Promise<boolean> {
  let changed = false;
  for (const row of verified.signed) {
    if (row.kind !== 'proxy' || row.retired === true || row.tokenId == null || !revoked.has(row.tokenId)) continue;
    if (row.generation < (state.generations.get(rowKey(row.kind, row.name)) ?? 0)) continue; // already superseded
    const now = deps.clock().getTime();
    const until = Math.min(Math.max(now + ttlSeconds(deps) * 1000, Date.parse(row.expiresAt)), now + MAX_ROW_TTL_SECONDS * 1000);
    const tomb = signNext(deps, state, { kind: row.kind, name: row.name, publicKey: row.publicKey, tokenId: row.tokenId, retired: true }, until);
    await deps.store.publishRow(tomb);
    changed = true;
    report.retired.push(`${row.kind}:${row.fingerprint}`);
    deps.log.info({ event: 'registry-key-retired', kind: row.kind, name: row.name, fingerprint: row.fingerprint, tokenId: row.tokenId, generation: tomb.generation, reason: 'token-revoked' }, `proxy key of ${row.name} retired: its join token is revoked`);
  }
  return changed;
}

/** Live proxy keys (token not revoked) are re-signed at half-life; the old row stays valid until the new one replaces it. */
async function renewProxies(deps: KeySyncDeps, verified: VerifyResult, revoked: Set<string>, report: SyncReport, state: KeySyncState): Promise<boolean> {
  let changed = false;
  for (const row of verified.trusted) {
    if (row.kind !== 'proxy' || !needsRenewal(row, deps.clock().getTime())) continue;
    if (row.tokenId != null && revoked.has(row.tokenId)) continue;
    if (row.generation < (state.generations.get(rowKey(row.kind, row.name)) ?? 0)) continue; // renewed meanwhile
    const next = signNext(deps, state, { kind: row.kind, name: row.name, publicKey: row.publicKey, tokenId: row.tokenId ?? null });
    await deps.store.publishRow(next);
    changed = true;
    report.renewed.push(`${row.kind}:${row.fingerprint}`);
    deps.log.info({ event: 'registry-row-renewed', kind: row.kind, name: row.name, fingerprint: row.fingerprint, generation: next.generation, expiresAt: next.expiresAt, reason: 'half-life' }, `renewed proxy key of ${row.name}`);
  }
  return changed;
}

async function publishSelf(deps: KeySyncDeps, trusted: RegistryRow[], report: SyncReport, state: KeySyncState): Promise<boolean> {
  const self = deps.self;
  if (!self) return false;
  const aliases = [...new Set(self.aliases ?? [])].filter((a) => a !== self.host && a !== self.name).sort();
  const wanted: { kind: 'node-host' | 'node-client'; key: string }[] = [
    { kind: 'node-host', key: self.hostPublicKey },
    ...(self.clientPublicKey ? [{ kind: 'node-client' as const, key: self.clientPublicKey }] : []),
  ];
  let changed = false;
  for (const w of wanted) {
    const p = parsePublicKey(w.key);
    if (!p.ok) throw new Error(`own ${w.kind} key is not a public key: ${p.reason}`);
    const isHost = w.kind === 'node-host';
    const current = trusted.find((r) => r.kind === w.kind && r.name === self.name && r.fingerprint === p.key.fingerprint
      && (!isHost || (r.host === self.host && r.port === self.sshPort && sameList(r.aliases ?? [], aliases))));
    const others = trusted.some((r) => r.kind === w.kind && r.name === self.name && r.fingerprint !== p.key.fingerprint);
    const renew = !!current && needsRenewal(current, deps.clock().getTime());
    if (current && !others && !renew) continue;
    const row = signNext(deps, state, {
      kind: w.kind,
      name: self.name,
      publicKey: p.key.line,
      host: isHost ? self.host : null,
      port: isHost ? self.sshPort : null,
      aliases: isHost && aliases.length ? aliases : null,
    });
    await deps.store.publishRow(row);
    changed = true;
    if (current && !others) {
      report.renewed.push(`${w.kind}:${row.fingerprint}`);
      deps.log.info({ event: 'registry-row-renewed', kind: w.kind, name: self.name, fingerprint: row.fingerprint, generation: row.generation, expiresAt: row.expiresAt, reason: 'half-life' }, `renewed own ${w.kind} key`);
    } else {
      report.published.push(`${w.kind}:${row.fingerprint}`);
      deps.log.info({ event: 'own-key-published', kind: w.kind, name: self.name, fingerprint: row.fingerprint, generation: row.generation, expiresAt: row.expiresAt }, `published own ${w.kind} key`);
    }
  }
  return changed;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
}

/** Runs syncKeys now and then every intervalMs until stop() is called; errors are logged, never thrown. */
export function startKeySync(deps: KeySyncDeps, intervalMs: number): { stop: () => Promise<void>; tickNow: () => Promise<void> } {
  const state = new KeySyncState();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      await syncKeys(deps, state);
    } catch (e) {
      deps.log.error({ event: 'key-sync-failed', err: (e as Error).message }, 'key sync failed');
    }
  };
  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
    });
  };
  loop();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    tickNow: async () => {
      await running;
      running = tick();
      await running;
    },
  };
}

import { canonicalBytes } from './canonical';
import { publicKeyOf, sign, signingKeyId, verify } from './signing';
import { looksLikePrivateKey, parsePublicKey } from './ssh-public-key';
import { judgeLifecycle, latestGenerations, MAX_GENERATION, MAX_ROW_TTL_SECONDS } from './row-lifecycle';

/**
 * One row of the `pgswarm.registry` table: a public key and what it is for,
 * signed with the cluster signing key. Readers trust a row only when the
 * signature over its canonical content verifies with the cluster verify key,
 * it has not expired, and everything in it is well-formed.
 */
export type RowKind = 'node-host' | 'node-client' | 'proxy';
export const ROW_KINDS: readonly RowKind[] = ['node-host', 'node-client', 'proxy'];

export interface RegistryRow {
  kind: RowKind;
  name: string;
  /** OpenSSH one-line public key, "type base64" (no comment, no options). */
  publicKey: string;
  /** "SHA256:..." as ssh-keygen prints it; must match publicKey. */
  fingerprint: string;
  /** For node-host rows: how other nodes and proxies reach this node's sshd. */
  host?: string | null;
  port?: number | null;
  /** Further names the node is reached by (e.g. a swarm service name), for known_hosts. */
  aliases?: string[] | null;
  /** For proxy rows: the join token that enrolled it (so revoking the token removes the key). */
  tokenId?: string | null;
  /** ISO 8601 UTC with milliseconds (Date.toISOString()). */
  createdAt: string;
  /** Required: every row expires (at most MAX_ROW_TTL_SECONDS after createdAt) and its owner renews it. */
  expiresAt: string;
  /** Signed, increasing per (kind, name): a higher generation supersedes every lower one (see row-lifecycle.ts). */
  generation: number;
  /** A tombstone: this key is retired at this generation and authorises nothing. */
  retired?: boolean | null;
  /** signingKeyId() of the key that signed. */
  signedBy: string;
  /** base64 ed25519 signature over rowSigningBytes(row). */
  signature: string;
}

export type UnsignedRow = Omit<RegistryRow, 'signedBy' | 'signature' | 'fingerprint'> & { fingerprint?: string };

export type IgnoreReason =
  | 'malformed'
  | 'looks-like-private-key'
  | 'not-a-public-key'
  | 'fingerprint-mismatch'
  | 'missing-signature'
  | 'unknown-signer'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'conflicting-kind'
  | 'token-revoked'
  | 'superseded'
  | 'retired';

export interface IgnoredRow {
  fingerprint: string;
  name: string;
  kind: string;
  reason: IgnoreReason;
  detail: string;
}

export interface VerifyResult {
  trusted: RegistryRow[];
  ignored: IgnoredRow[];
  /** Every row whose signature verifies (whatever else is wrong with it): what signers build on. */
  signed: RegistryRow[];
  /** Highest signed generation per rowKey(kind, name), including opts.seenGenerations. */
  generations: Map<string, number>;
}

export interface VerifyOptions {
  revokedTokenIds?: ReadonlySet<string>;
  /** Highest generations this reader saw before (its own memory): rows below them are superseded even if the newer row was deleted. */
  seenGenerations?: ReadonlyMap<string, number>;
}

const DOMAIN = 'pgswarm/registry-row/v2';
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:]{2,39})$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Rows dated further in the future than this are refused (clock skew allowance). */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** The exact bytes signed for a row: a domain tag plus the canonical content, absent optionals as null. */
export function rowSigningBytes(row: Omit<RegistryRow, 'signature'>): Uint8Array {
  return canonicalBytes({
    domain: DOMAIN,
    kind: row.kind,
    name: row.name,
    publicKey: row.publicKey,
    fingerprint: row.fingerprint,
    host: row.host ?? null,
    port: row.port ?? null,
    aliases: row.aliases && row.aliases.length ? [...row.aliases] : null,
    tokenId: row.tokenId ?? null,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    generation: row.generation,
    retired: row.retired === true,
    signedBy: row.signedBy,
  });
}

/** Normalises the key (drops its comment), computes the fingerprint and signs. Throws on a bad row. */
export function signRow(fields: UnsignedRow, secretKeyB64: string): RegistryRow {
  const parsed = parsePublicKey(fields.publicKey);
  if (!parsed.ok) throw new Error(`signRow: ${parsed.reason}: ${parsed.detail}`);
  const base: Omit<RegistryRow, 'signature'> = {
    kind: fields.kind,
    name: fields.name,
    publicKey: parsed.key.line,
    fingerprint: parsed.key.fingerprint,
    host: fields.host ?? null,
    port: fields.port ?? null,
    aliases: fields.aliases && fields.aliases.length ? [...fields.aliases] : null,
    tokenId: fields.tokenId ?? null,
    createdAt: fields.createdAt,
    expiresAt: fields.expiresAt,
    generation: fields.generation,
    ...(fields.retired === true ? { retired: true } : {}),
    signedBy: signingKeyId(publicKeyOf(secretKeyB64)),
  };
  const shapeError = checkShape(base);
  if (shapeError) throw new Error(`signRow: ${shapeError}`);
  return { ...base, signature: sign(rowSigningBytes(base), secretKeyB64) };
}

/** Splits rows into trusted and ignored (with a reason each). Never throws on bad input. */
export function verifyRows(
  rows: readonly unknown[],
  verifyKeyB64: string,
  now: Date | number,
  opts: VerifyOptions = {},
): VerifyResult {
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const signed: RegistryRow[] = [];
  const ignored: IgnoredRow[] = [];
  let ourId: string | null = null;
  try {
    ourId = signingKeyId(verifyKeyB64);
  } catch {
    ourId = null; // a bad verify key trusts nothing
  }
  for (const raw of rows) {
    const r = (raw && typeof raw === 'object' ? raw : {}) as Partial<RegistryRow>;
    const fp = typeof r.fingerprint === 'string' ? r.fingerprint.slice(0, 80) : '';
    const name = typeof r.name === 'string' ? r.name.slice(0, 80) : '';
    const kind = typeof r.kind === 'string' ? r.kind.slice(0, 20) : '';
    const ignore = (reason: IgnoreReason, detail: string) => ignored.push({ fingerprint: fp, name, kind, reason, detail });

    if (typeof r.publicKey === 'string' && looksLikePrivateKey(r.publicKey)) {
      ignore('looks-like-private-key', 'publicKey contains private-key markers');
      continue;
    }
    const shapeError = checkShape(r);
    if (shapeError) {
      ignore('malformed', shapeError);
      continue;
    }
    const row = r as RegistryRow;
    const parsed = parsePublicKey(row.publicKey);
    if (!parsed.ok) {
      ignore(parsed.reason === 'looks-like-private-key' ? 'looks-like-private-key' : 'not-a-public-key', `${parsed.reason}: ${parsed.detail}`);
      continue;
    }
    if (parsed.key.line !== row.publicKey) {
      ignore('not-a-public-key', 'publicKey is not in canonical "type base64" form');
      continue;
    }
    if (parsed.key.fingerprint !== row.fingerprint) {
      ignore('fingerprint-mismatch', `key hashes to ${parsed.key.fingerprint}`);
      continue;
    }
    if (!row.signature) {
      ignore('missing-signature', 'no signature');
      continue;
    }
    if (ourId === null || row.signedBy !== ourId) {
      ignore('unknown-signer', `signedBy ${String(row.signedBy).slice(0, 40)} is not the cluster key`);
      continue;
    }
    if (!verify(rowSigningBytes(row), row.signature, verifyKeyB64)) {
      ignore('bad-signature', 'signature does not verify with the cluster verify key');
      continue;
    }
    signed.push(row);
  }
  // Second pass: generations are compared among rows whose signature verifies only
  // (an unsigned row with a huge generation supersedes nothing).
  const generations = latestGenerations(signed, opts.seenGenerations);
  const trusted: RegistryRow[] = [];
  for (const row of signed) {
    const ignore = (reason: IgnoreReason, detail: string) => ignored.push({ fingerprint: row.fingerprint, name: row.name, kind: row.kind, reason, detail });
    const life = judgeLifecycle(row, generations, nowMs);
    if (!life.ok) {
      ignore(life.reason, life.detail);
      continue;
    }
    if (Date.parse(row.createdAt) > nowMs + MAX_CLOCK_SKEW_MS) {
      ignore('not-yet-valid', `created in the future (${row.createdAt})`);
      continue;
    }
    if (row.tokenId != null && opts.revokedTokenIds?.has(row.tokenId)) {
      ignore('token-revoked', `enrolled with revoked token ${row.tokenId}`);
      continue;
    }
    trusted.push(row);
  }
  // A key must not be both a proxy key (forced command) and a node client key (any command):
  // keep the restricted meaning and refuse the other.
  const proxyFps = new Set(trusted.filter((x) => x.kind === 'proxy').map((x) => x.fingerprint));
  const result: RegistryRow[] = [];
  for (const row of trusted) {
    if (row.kind === 'node-client' && proxyFps.has(row.fingerprint)) {
      ignored.push({ fingerprint: row.fingerprint, name: row.name, kind: row.kind, reason: 'conflicting-kind', detail: 'the same key is enrolled as a proxy key' });
    } else {
      result.push(row);
    }
  }
  return { trusted: result, ignored, signed, generations };
}

/** Returns a description of what is wrong with the row's shape, or null. */
export function checkShape(r: Partial<RegistryRow>): string | null {
  const errs: string[] = [];
  if (!ROW_KINDS.includes(r.kind as RowKind)) errs.push('kind');
  if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) errs.push('name');
  if (typeof r.publicKey !== 'string') errs.push('publicKey');
  if (typeof r.fingerprint !== 'string' || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(r.fingerprint)) errs.push('fingerprint');
  if (typeof r.createdAt !== 'string' || !ISO_RE.test(r.createdAt) || Number.isNaN(Date.parse(r.createdAt))) errs.push('createdAt');
  if (typeof r.expiresAt !== 'string' || !ISO_RE.test(r.expiresAt) || Number.isNaN(Date.parse(r.expiresAt))) errs.push('expiresAt');
  else if (typeof r.createdAt === 'string' && !errs.includes('createdAt')) {
    const life = Date.parse(r.expiresAt) - Date.parse(r.createdAt);
    if (life <= 0 || life > MAX_ROW_TTL_SECONDS * 1000) errs.push('expiresAt (must be after createdAt, by at most 30 days)');
  }
  if (!Number.isInteger(r.generation) || (r.generation as number) < 1 || (r.generation as number) > MAX_GENERATION) errs.push('generation');
  if (r.retired != null && typeof r.retired !== 'boolean') errs.push('retired');
  if (r.host != null && (typeof r.host !== 'string' || !HOST_RE.test(r.host))) errs.push('host');
  if (r.port != null && (!Number.isInteger(r.port) || (r.port as number) < 1 || (r.port as number) > 65535)) errs.push('port');
  if (r.kind === 'node-host' && (r.host == null || r.port == null)) errs.push('host/port required for node-host');
  if (r.aliases != null && (!Array.isArray(r.aliases) || r.aliases.length > 16 || !r.aliases.every((a) => typeof a === 'string' && HOST_RE.test(a)))) errs.push('aliases');
  if (r.tokenId != null && (typeof r.tokenId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(r.tokenId))) errs.push('tokenId');
  if (r.signedBy != null && (typeof r.signedBy !== 'string' || r.signedBy.length > 64)) errs.push('signedBy');
  if (r.signature != null && typeof r.signature !== 'string') errs.push('signature');
  return errs.length ? `bad ${errs.join(', ')}` : null;
}

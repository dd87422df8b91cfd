import nacl from 'tweetnacl';
import { createHash } from 'node:crypto';
import { canonicalBytes, canonicalString } from './canonical';
import { publicKeyOf, sign, signingKeyId, verify } from './signing';
import { NAME_RE } from './registry-row';

/**
 * Join tokens: a payload {kind, name, id, iat, exp, iss} signed with the
 * cluster signing key, written as base64url(payload).base64url(signature).base64url(gate)
 * (gate: see tokenGateKey; tokens without it are still valid for nodes, but
 * a primary whose schema has the gate key refuses to store them).
 * A token lets one proxy enroll one SSH public key: the first key that uses
 * it is bound to it, and the same token with any other key is refused.
 */
export type TokenKind = 'proxy';
export const TOKEN_KINDS: readonly TokenKind[] = ['proxy'];
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
export const TOKEN_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
const CLOCK_SKEW_S = 300;
const DOMAIN = 'pgswarm/join-token/v1\n';

export interface TokenPayload {
  v: 1;
  kind: TokenKind;
  name: string;
  id: string;
  /** issued at, seconds since the epoch */
  iat: number;
  /** expires at, seconds since the epoch */
  exp: number;
  /** signingKeyId() of the key that signed */
  iss: string;
}

export type TokenRefusal =
  | 'malformed'
  | 'unknown-signer'
  | 'bad-signature'
  | 'wrong-kind'
  | 'not-yet-valid'
  | 'expired'
  | 'revoked'
  | 'reused';

export type TokenCheck = { ok: true; payload: TokenPayload } | { ok: false; reason: TokenRefusal; detail: string; tokenId?: string };

export interface CreateTokenInput {
  kind: TokenKind;
  name: string;
  ttlSeconds: number;
  id?: string;
}

export function newTokenId(): string {
  return b64u(nacl.randomBytes(12));
}

export function createToken(input: CreateTokenInput, secretKeyB64: string, now: Date | number): string {
  const nowS = Math.floor(ms(now) / 1000);
  const errs: string[] = [];
  if (!TOKEN_KINDS.includes(input.kind)) errs.push(`kind must be one of ${TOKEN_KINDS.join(', ')}`);
  if (typeof input.name !== 'string' || !NAME_RE.test(input.name)) errs.push('name must be letters, digits, ., _ or -, starting with a letter or digit');
  if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds <= 0 || input.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    errs.push(`ttlSeconds must be a whole number from 1 to ${MAX_TOKEN_TTL_SECONDS}`);
  }
  const id = input.id ?? newTokenId();
  if (!TOKEN_ID_RE.test(id)) errs.push('id must be 8-64 of A-Z a-z 0-9 _ -');
  if (errs.length) throw new Error(`createToken: ${errs.join('; ')}`);
  const payload: TokenPayload = {
    v: 1,
    kind: input.kind,
    name: input.name,
    id,
    iat: nowS,
    exp: nowS + input.ttlSeconds,
    iss: signingKeyId(publicKeyOf(secretKeyB64)),
  };
  const body = canonicalBytes(payload);
  const sig = sign(signedBytes(body), secretKeyB64);
  const bodyB64 = b64u(body);
  return `${bodyB64}.${Buffer.from(sig, 'base64').toString('base64url')}.${tokenGateMac(bodyB64, tokenGateKey(secretKeyB64)).toString('base64url')}`;
}

const GATE_DOMAIN = 'pgswarm/enroll-gate/v1\n';

/**
 * The enrollment gate key: derived from the signing key (one-way), stored on
 * the primary where only the SECURITY DEFINER pgswarm.enroll() reads it. The
 * database cannot check an ed25519 signature, but it can check this keyed
 * hash with sha256(), so requests with a forged or garbage token are refused
 * before they are stored. It only gates storage: trust still needs the
 * ed25519 signature, checked by a node.
 */
export function tokenGateKey(secretKeyB64: string): Buffer {
  return createHash('sha256').update(GATE_DOMAIN).update(Buffer.from(secretKeyB64, 'base64')).digest();
}

/** H(K || H(K || body)), body = the token's first (base64url) segment as ASCII: what pgswarm.enroll() recomputes with sha256(). */
export function tokenGateMac(bodyB64: string, key: Buffer): Buffer {
  const inner = createHash('sha256').update(key).update(bodyB64, 'ascii').digest();
  return createHash('sha256').update(key).update(inner).digest();
}

/** Decodes the payload without checking anything (for display and for logging the id of a refused token). */
export function decodeTokenUnverified(token: string): Partial<TokenPayload> | null {
  try {
    const [body] = splitToken(token);
    const v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * Checks a token presented with a key. `usedBy` maps token ids already used to
 * the fingerprint of the key they enrolled; presenting the same key again is
 * fine (idempotent retry), any other key is 'reused'.
 */
export function verifyToken(
  token: string,
  verifyKeyB64: string,
  now: Date | number,
  revokedIds: ReadonlySet<string> | readonly string[],
  usedBy: ReadonlyMap<string, string>,
  presentedFingerprint: string,
): TokenCheck {
  const nowS = ms(now) / 1000;
  let body: string;
  let sig: string;
  try {
    [body, sig] = splitToken(token);
  } catch (e) {
    return { ok: false, reason: 'malformed', detail: (e as Error).message };
  }
  const bodyBytes = new Uint8Array(Buffer.from(body, 'base64url'));
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'payload is not JSON' };
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return { ok: false, reason: 'malformed', detail: 'payload is not an object' };
  const tokenId = typeof p.id === 'string' && TOKEN_ID_RE.test(p.id) ? p.id : undefined;
  const shape = payloadShapeError(p);
  if (shape) return { ok: false, reason: 'malformed', detail: shape, tokenId };
  const payload = p as unknown as TokenPayload;
  if (canonicalString(payload) !== Buffer.from(bodyBytes).toString('utf8')) {
    return { ok: false, reason: 'malformed', detail: 'payload is not canonically encoded', tokenId };
  }
  let ourId: string | null;
  try {
    ourId = signingKeyId(verifyKeyB64);
  } catch {
    ourId = null;
  }
  if (ourId === null || payload.iss !== ourId) {
    return { ok: false, reason: 'unknown-signer', detail: `issuer ${payload.iss} is not the cluster key (forged)`, tokenId };
  }
  if (!verify(signedBytes(bodyBytes), Buffer.from(sig, 'base64url').toString('base64'), verifyKeyB64)) {
    return { ok: false, reason: 'bad-signature', detail: 'signature does not verify (tampered or forged)', tokenId };
  }
  if (payload.kind !== 'proxy') return { ok: false, reason: 'wrong-kind', detail: `kind ${payload.kind}`, tokenId };
  if (payload.iat > nowS + CLOCK_SKEW_S) return { ok: false, reason: 'not-yet-valid', detail: 'issued in the future', tokenId };
  if (payload.exp <= nowS) return { ok: false, reason: 'expired', detail: `expired at ${new Date(payload.exp * 1000).toISOString()}`, tokenId };
  const revoked = Array.isArray(revokedIds) ? new Set(revokedIds) : (revokedIds as ReadonlySet<string>);
  if (revoked.has(payload.id)) return { ok: false, reason: 'revoked', detail: `token ${payload.id} is revoked`, tokenId };
  const boundTo = usedBy.get(payload.id);
  if (boundTo !== undefined && boundTo !== presentedFingerprint) {
    return { ok: false, reason: 'reused', detail: `token ${payload.id} already enrolled key ${boundTo}`, tokenId };
  }
  return { ok: true, payload };
}

function payloadShapeError(p: Record<string, unknown>): string | null {
  const errs: string[] = [];
  if (p.v !== 1) errs.push('v');
  if (typeof p.kind !== 'string') errs.push('kind');
  if (typeof p.name !== 'string' || !NAME_RE.test(p.name)) errs.push('name');
  if (typeof p.id !== 'string' || !TOKEN_ID_RE.test(p.id)) errs.push('id');
  if (!Number.isInteger(p.iat)) errs.push('iat');
  if (!Number.isInteger(p.exp)) errs.push('exp');
  if (typeof p.iss !== 'string') errs.push('iss');
  const extra = Object.keys(p).filter((k) => !['v', 'kind', 'name', 'id', 'iat', 'exp', 'iss'].includes(k));
  if (extra.length) errs.push(`unknown fields ${extra.join(',')}`);
  return errs.length ? `bad ${errs.join(', ')}` : null;
}

function splitToken(token: string): [string, string] {
  if (typeof token !== 'string') throw new Error('token is not a string');
  const t = token.trim();
  if (t.length > 4096) throw new Error('token too long');
  // An optional third segment is the enrollment gate's keyed hash (checked by the database, not here).
  const parts = t.split('.');
  if ((parts.length !== 2 && parts.length !== 3) || !parts.every((x) => /^[A-Za-z0-9_-]+$/.test(x))) {
    throw new Error('expected base64url(payload).base64url(signature)[.gate]');
  }
  return [parts[0], parts[1]];
}

function signedBytes(body: Uint8Array): Uint8Array {
  const d = new TextEncoder().encode(DOMAIN);
  const out = new Uint8Array(d.length + body.length);
  out.set(d, 0);
  out.set(body, d.length);
  return out;
}

function b64u(u: Uint8Array): string {
  return Buffer.from(u).toString('base64url');
}

function ms(now: Date | number): number {
  return typeof now === 'number' ? now : now.getTime();
}

import { createHash } from 'node:crypto';

/**
 * Strict parsing of one OpenSSH public key line ("type base64 [comment]") and
 * its SHA256 fingerprint exactly as `ssh-keygen -lf` prints it. Strict on
 * purpose: what passes is later written into authorized_keys / known_hosts, so
 * options, extra fields, newlines or a private key pasted by mistake must not.
 */
export const ALLOWED_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;

export interface ParsedPublicKey {
  type: string;
  /** base64 of the key blob, canonical (re-encoded). */
  blob: string;
  fingerprint: string;
  /** "type blob" without a comment: what we render. */
  line: string;
}

export type PublicKeyReason = 'looks-like-private-key' | 'not-a-public-key' | 'unsupported-key-type' | 'malformed-key';

export type ParseResult = { ok: true; key: ParsedPublicKey } | { ok: false; reason: PublicKeyReason; detail: string };

const PRIVATE_MARKERS = /PRIVATE KEY|BEGIN OPENSSH|BEGIN RSA|BEGIN EC |BEGIN DSA|PuTTY-User-Key-File|b3BlbnNzaC1rZXktdjE/;

/** True when the text contains what looks like private key material (PEM/OpenSSH markers, or the base64 of "openssh-key-v1"). */
export function looksLikePrivateKey(text: string): boolean {
  return PRIVATE_MARKERS.test(text);
}

export function parsePublicKey(text: unknown): ParseResult {
  if (typeof text !== 'string') return { ok: false, reason: 'not-a-public-key', detail: 'not a string' };
  if (looksLikePrivateKey(text)) return { ok: false, reason: 'looks-like-private-key', detail: 'contains private-key markers' };
  if (text.length > 16384) return { ok: false, reason: 'not-a-public-key', detail: 'too long' };
  const trimmed = text.trim();
  if (/[\r\n\0]/.test(trimmed)) return { ok: false, reason: 'not-a-public-key', detail: 'more than one line' };
  const parts = trimmed.split(/[ \t]+/);
  if (parts.length < 2 || parts.length > 3) return { ok: false, reason: 'not-a-public-key', detail: 'expected "type base64 [comment]"' };
  const [type, data, comment] = parts;
  if (!/^[a-z0-9@.-]+$/.test(type)) return { ok: false, reason: 'not-a-public-key', detail: 'bad key type field (options are not allowed)' };
  if (!(ALLOWED_KEY_TYPES as readonly string[]).includes(type)) return { ok: false, reason: 'unsupported-key-type', detail: type };
  if (comment !== undefined && !/^[A-Za-z0-9@._:+=-]{1,128}$/.test(comment)) return { ok: false, reason: 'not-a-public-key', detail: 'bad comment' };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) return { ok: false, reason: 'malformed-key', detail: 'key is not base64' };
  const blob = Buffer.from(data, 'base64');
  if (blob.toString('base64') !== data) return { ok: false, reason: 'malformed-key', detail: 'key is not canonical base64' };
  const fields = readSshStrings(blob);
  if (!fields || fields.length < 2) return { ok: false, reason: 'malformed-key', detail: 'key blob is not a list of SSH strings' };
  if (fields[0].toString('latin1') !== type) return { ok: false, reason: 'malformed-key', detail: 'key blob type differs from the line\'s type' };
  if (type === 'ssh-ed25519' && (fields.length !== 2 || fields[1].length !== 32)) {
    return { ok: false, reason: 'malformed-key', detail: 'ed25519 key must be 32 bytes' };
  }
  if (type === 'ssh-rsa' && (fields.length !== 3 || fields[2].length < 256)) {
    return { ok: false, reason: 'malformed-key', detail: 'RSA key must have e, n and at least 2048 bits' };
  }
  if (type.startsWith('ecdsa-') && fields.length !== 3) return { ok: false, reason: 'malformed-key', detail: 'bad ECDSA key' };
  return { ok: true, key: { type, blob: data, fingerprint: fingerprintOfBlob(blob), line: `${type} ${data}` } };
}

/** "SHA256:<unpadded base64 of sha256(blob)>", as `ssh-keygen -l` prints. */
export function fingerprintOfBlob(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Fingerprint of an OpenSSH public key line; throws on anything that is not one. */
export function fingerprint(publicKeyLine: string): string {
  const p = parsePublicKey(publicKeyLine);
  if (!p.ok) throw new Error(`not an OpenSSH public key: ${p.reason} (${p.detail})`);
  return p.key.fingerprint;
}

function readSshStrings(buf: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) return null;
    const len = buf.readUInt32BE(off);
    off += 4;
    if (off + len > buf.length) return null;
    out.push(buf.subarray(off, off + len));
    off += len;
  }
  return out;
}

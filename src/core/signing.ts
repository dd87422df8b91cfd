import nacl from 'tweetnacl';
import { createHash } from 'node:crypto';

/**
 * Ed25519 signatures (tweetnacl) with base64 keys. The cluster signing key is
 * the 64-byte tweetnacl secret key (seed + public key); the verify key is its
 * 32-byte public half. Keys and signatures travel as standard base64.
 */
export interface SigningKeyPair {
  publicKey: string;
  secretKey: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const kp = nacl.sign.keyPair();
  return { publicKey: b64(kp.publicKey), secretKey: b64(kp.secretKey) };
}

/** The verify key that belongs to a secret key (for checking a configuration). */
export function publicKeyOf(secretKeyB64: string): string {
  const sk = decodeKey(secretKeyB64, nacl.sign.secretKeyLength, 'secret key');
  return b64(nacl.sign.keyPair.fromSecretKey(sk).publicKey);
}

export function sign(bytes: Uint8Array, secretKeyB64: string): string {
  const sk = decodeKey(secretKeyB64, nacl.sign.secretKeyLength, 'secret key');
  return b64(nacl.sign.detached(bytes, sk));
}

/**
 * Verification is deterministic, and the key sync re-reads the same signed rows every few seconds:
 * remembering what was checked keeps an idle node from spending most of its CPU on tweetnacl's
 * pure-JS curve arithmetic (measured: 60 % of an idle agent's CPU before this). Bounded.
 */
const verified = new Map<string, boolean>();
const VERIFIED_MAX = 4096;

/** False (never throws) for a malformed signature or key: callers treat all of these as "not signed by us". */
export function verify(bytes: Uint8Array, sigB64: string, publicKeyB64: string): boolean {
  const key = createHash('sha256').update(bytes).update('\0').update(sigB64).update('\0').update(publicKeyB64).digest('base64');
  const known = verified.get(key);
  if (known !== undefined) return known;
  const ok = verifyUncached(bytes, sigB64, publicKeyB64);
  if (verified.size >= VERIFIED_MAX) verified.clear();
  verified.set(key, ok);
  return ok;
}

function verifyUncached(bytes: Uint8Array, sigB64: string, publicKeyB64: string): boolean {
  try {
    const pk = decodeKey(publicKeyB64, nacl.sign.publicKeyLength, 'public key');
    const sig = decodeKey(sigB64, nacl.sign.signatureLength, 'signature');
    return nacl.sign.detached.verify(bytes, sig, pk);
  } catch {
    return false;
  }
}

/** A short, stable, public name for a verify key, written into rows as `signedBy`. */
export function signingKeyId(publicKeyB64: string): string {
  const pk = decodeKey(publicKeyB64, nacl.sign.publicKeyLength, 'public key');
  return `ed25519:${createHash('sha256').update(pk).digest('base64').replace(/=+$/, '').slice(0, 16)}`;
}

export function isSigningSecretKey(secretKeyB64: string): boolean {
  try {
    decodeKey(secretKeyB64, nacl.sign.secretKeyLength, 'secret key');
    return true;
  } catch {
    return false;
  }
}

function b64(u: Uint8Array): string {
  return Buffer.from(u).toString('base64');
}

function decodeKey(s: string, len: number, what: string): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.trim())) throw new Error(`${what}: not base64`);
  const u = new Uint8Array(Buffer.from(s.trim(), 'base64'));
  if (u.length !== len) throw new Error(`${what}: ${u.length} bytes, expected ${len}`);
  return u;
}

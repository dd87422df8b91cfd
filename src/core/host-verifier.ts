import type { RegistryRow } from './registry-row';
import { hostPattern, hostPatternsOf } from './render-ssh';
import { parsePublicKey } from './ssh-public-key';

/**
 * Host-key checking for ssh2 clients (ours and the proxy's): a server is
 * accepted only when the key it presents is listed for exactly the name and
 * port we dialled. There is no accept-on-first-use path; an unknown host
 * refuses, always. Hashed known_hosts lines and wildcards are not supported
 * (we write the file ourselves, without them); such lines are skipped.
 */
export interface KnownHostEntry {
  patterns: string[];
  type: string;
  blob: string;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@') || line.startsWith('|')) continue;
    const m = /^(\S+)\s+(\S+\s+\S+)(?:\s+\S+)?$/.exec(line);
    if (!m) continue;
    const p = parsePublicKey(m[2]);
    if (!p.ok) continue;
    const patterns = m[1].split(',').filter((x) => x && !/[*?!]/.test(x));
    if (patterns.length) out.push({ patterns, type: p.key.type, blob: p.key.blob });
  }
  return out;
}

export function knownHostEntriesFromRows(rows: readonly RegistryRow[]): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const r of rows) {
    if (r.kind !== 'node-host' || r.host == null || r.port == null) continue;
    const p = parsePublicKey(r.publicKey);
    if (p.ok) out.push({ patterns: hostPatternsOf(r), type: p.key.type, blob: p.key.blob });
  }
  return out;
}

/** True when `keyBlob` (raw SSH key blob) is listed for host:port. */
export function isKnownHostKey(entries: readonly KnownHostEntry[], host: string, port: number, keyBlob: Uint8Array): boolean {
  const pattern = hostPattern(host, port);
  const b64 = Buffer.from(keyBlob).toString('base64');
  return entries.some((e) => e.blob === b64 && e.patterns.includes(pattern));
}

export interface HostVerifierResult {
  host: string;
  port: number;
  accepted: boolean;
  /** base64 of the presented key blob (public; for logs). */
  presented: string;
}

/**
 * An ssh2 `hostVerifier` (ssh2 passes the raw key blob when no hostHash is
 * set). `onResult` sees every decision, so a caller can raise a distinct
 * HostKeyRejected error and log it.
 */
export function createHostVerifier(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  onResult?: (r: HostVerifierResult) => void,
): (key: Buffer) => boolean {
  return (key: Buffer) => {
    const accepted = Buffer.isBuffer(key) && isKnownHostKey(entries, host, port, key);
    onResult?.({ host, port, accepted, presented: Buffer.isBuffer(key) ? key.toString('base64') : '' });
    return accepted;
  };
}

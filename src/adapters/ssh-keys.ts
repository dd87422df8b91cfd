import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { fingerprint as fingerprintOf, parsePublicKey } from '../core/ssh-public-key';

export { fingerprint } from '../core/ssh-public-key';

const execFileP = promisify(execFile);

export interface KeyPairInfo {
  privateKeyPath: string;
  publicKeyPath: string;
  /** "ssh-ed25519 AAAA..." without comment */
  publicKeyLine: string;
  fingerprint: string;
  /** false when an existing key was reused */
  created: boolean;
}

export interface EnsureKeyOptions {
  uid?: number;
  gid?: number;
  comment?: string;
  sshKeygen?: string;
}

/**
 * Makes sure an ed25519 key pair exists at `privateKeyPath` (+ ".pub"),
 * creating it with ssh-keygen on this machine if absent and reusing it
 * otherwise. The private key is 0600 and owned by `uid`/`gid`; its directory
 * is created 0700. The private key is never read into this process: only the
 * public half is returned.
 */
export async function ensureKeyPair(privateKeyPath: string, opts: EnsureKeyOptions = {}): Promise<KeyPairInfo> {
  const keygen = opts.sshKeygen ?? 'ssh-keygen';
  const pubPath = `${privateKeyPath}.pub`;
  const dir = path.dirname(privateKeyPath);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  let created = false;
  if (!(await exists(privateKeyPath))) {
    await fsp.rm(pubPath, { force: true });
    // -N '' : no passphrase (the key is protected by file permissions in the node's own volume).
    await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', opts.comment ?? 'pgswarm', '-f', privateKeyPath], { timeout: 30_000 });
    created = true;
  }
  // Always re-derive the public half from the private key, so a tampered .pub cannot lie.
  const { stdout } = await execFileP(keygen, ['-y', '-f', privateKeyPath], { timeout: 30_000 });
  const parsed = parsePublicKey(stdout.trim().split(/\s+/).slice(0, 2).join(' '));
  if (!parsed.ok || parsed.key.type !== 'ssh-ed25519') throw new Error(`ensureKeyPair: ${privateKeyPath} does not hold an ed25519 key`);
  await fsp.writeFile(pubPath, `${parsed.key.line} ${opts.comment ?? 'pgswarm'}\n`, { mode: 0o644 });
  await fsp.chmod(privateKeyPath, 0o600);
  await fsp.chmod(pubPath, 0o644);
  if (opts.uid !== undefined || opts.gid !== undefined) {
    const st = await fsp.stat(privateKeyPath);
    const uid = opts.uid ?? st.uid;
    const gid = opts.gid ?? st.gid;
    await fsp.chown(privateKeyPath, uid, gid);
    await fsp.chown(pubPath, uid, gid);
  }
  return {
    privateKeyPath,
    publicKeyPath: pubPath,
    publicKeyLine: parsed.key.line,
    fingerprint: fingerprintOf(parsed.key.line),
    created,
  };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

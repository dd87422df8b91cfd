import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Where the host's PostgreSQL binaries are (integration tests run the host's packages). */
export function pgBin(): string {
  const base = '/usr/lib/postgresql';
  const v = fs.readdirSync(base).filter((x) => /^\d+$/.test(x)).sort((a, b) => Number(b) - Number(a))
    .find((x) => fs.existsSync(path.join(base, x, 'bin', 'postgres')) && fs.existsSync(path.join(base, x, 'bin', 'repmgr')));
  if (!v) throw new Error('PostgreSQL with repmgr not installed (apt-get install postgresql postgresql-NN-repmgr)');
  return path.join(base, v, 'bin');
}

/**
 * A test directory that sshd's StrictModes accepts and the postgres user can
 * traverse: under a root-owned 0755 parent, not under world-writable /tmp.
 */
export function testDir(prefix: string): string {
  const parent = '/var/lib/pgswarm-test';
  fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
  fs.chmodSync(parent, 0o755);
  const d = fs.mkdtempSync(path.join(parent, `${prefix}-`));
  fs.chmodSync(d, 0o755);
  return d;
}

export function postgresIds(): { uid: number; gid: number } {
  const f = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${lastErr}` : ''}`);
}

import { execFileSync } from 'node:child_process';

const cache = new Map<string, { uid: number; gid: number; home: string }>();

/** uid, gid and home of an OS user (getent passwd). */
export function lookupUser(name: string): { uid: number; gid: number; home: string } {
  const hit = cache.get(name);
  if (hit) return hit;
  const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  const f = line.split(':');
  if (f.length < 7) throw new Error(`unknown OS user ${name}`);
  const u = { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  cache.set(name, u);
  return u;
}

/** lookupUser, or null when the account does not exist. */
export function lookupUserOrNull(name: string): { uid: number; gid: number; home: string } | null {
  try {
    return lookupUser(name);
  } catch {
    return null;
  }
}

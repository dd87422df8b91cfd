/**
 * A real sshd on loopback for integration tests, set up as ssh-identity.test.ts
 * does (same rendered sshd_config, root-owned files under /var/lib/pgswarm-test
 * so StrictModes accepts them, the postgres account as the one login).
 */
import { execFile, spawn, ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { sshdConfig, hostPattern } from '../../src/core/render-ssh';

const execFileP = promisify(execFile);
export const TEST_BASE = '/var/lib/pgswarm-test';

export async function sh(cmd: string, args: string[], opts: { uid?: number; gid?: number; timeout?: number } = {}) {
  return execFileP(cmd, args, { timeout: opts.timeout ?? 60_000, uid: opts.uid, gid: opts.gid, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } });
}

export function waitPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
      s.once('connect', () => { s.destroy(); resolve(); });
      const retry = () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`port ${port} not open within ${ms} ms`));
        else setTimeout(attempt, 100);
      };
      s.once('error', retry);
      s.once('timeout', retry);
    };
    attempt();
  });
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** A root-owned 0755 scratch directory under TEST_BASE (sshd's StrictModes needs root-owned parents). */
export async function makeRootDir(prefix: string): Promise<string> {
  await fsp.mkdir(TEST_BASE, { recursive: true, mode: 0o755 });
  await fsp.chown(TEST_BASE, 0, 0);
  await fsp.chmod(TEST_BASE, 0o755);
  const dir = await fsp.mkdtemp(path.join(TEST_BASE, prefix));
  await fsp.chmod(dir, 0o755);
  return dir;
}

/** Debian locks the postgres account ("!"); sshd without PAM refuses locked accounts even for keys. */
export async function unlockPostgresForKeys(): Promise<void> {
  const shadow = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (shadow && shadow.split(':')[1] === '!') await sh('usermod', ['-p', '*', 'postgres']);
}

export async function startSshd(o: { etc: string; logs: string; name: string; port: number; hostKeyFile: string; authorizedKeysFile: string }): Promise<ChildProcess> {
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const cfgPath = path.join(o.etc, `${o.name}_config`);
  await fsp.writeFile(cfgPath, sshdConfig({
    port: o.port, listenAddress: '127.0.0.1', hostKeyFile: o.hostKeyFile,
    authorizedKeysFile: o.authorizedKeysFile, allowUser: 'postgres', pidFile: path.join(o.etc, `${o.name}.pid`),
  }), { mode: 0o644 });
  await sh('/usr/sbin/sshd', ['-t', '-f', cfgPath]);
  const log = await fsp.open(path.join(o.logs, `${o.name}.log`), 'a');
  const p = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfgPath], { stdio: ['ignore', log.fd, log.fd] });
  p.once('exit', () => { void log.close(); });
  await waitPort(o.port, 15_000);
  return p;
}

/** One known_hosts line for a loopback sshd. */
export function knownHostLine(port: number, publicKeyLine: string): string {
  return `${hostPattern('127.0.0.1', port)} ${publicKeyLine.split(' ').slice(0, 2).join(' ')}\n`;
}

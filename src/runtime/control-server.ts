import net from 'node:net';
import fs from 'node:fs';
import type { Logger } from '../core/log';

/** repmgr's service commands (start..status) and the hooks' `report` (validated: src/core/hook-report.ts). */
export type ControlVerb = 'start' | 'stop' | 'restart' | 'reload' | 'status' | 'report';
export const CONTROL_VERBS: readonly ControlVerb[] = ['start', 'stop', 'restart', 'reload', 'status', 'report'];
/** The service commands take no argument; a request line longer than this is refused. */
const MAX_LINE = 9000;

/**
 * A UNIX socket, reachable only by the run user (0600), through which repmgr's
 * service_*_command and our hooks ask the supervisor to start/stop/reload
 * postgres: postgres stays a child of PID 1 even when repmgr restarts it.
 */
export function startControlServer(
  socketPath: string,
  owner: { uid: number; gid: number },
  log: Logger,
  handle: (verb: ControlVerb, arg: string) => Promise<string>,
): net.Server {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE) sock.destroy();
        return;
      }
      const [verb, ...rest] = buf.slice(0, nl).trim().split(' ');
      buf = '';
      if (!CONTROL_VERBS.includes(verb as ControlVerb)) {
        sock.end(`error: unknown verb ${JSON.stringify(verb.slice(0, 40))}\n`);
        return;
      }
      if (verb !== 'report' && rest.join('').length > 0) {
        sock.end(`error: ${verb} takes no argument\n`);
        return;
      }
      if (verb !== 'report') log.info({ event: 'control', verb }, `control request: ${verb}`);
      handle(verb as ControlVerb, rest.join(' '))
        .then((r) => sock.end(`ok ${r}\n`))
        .catch((e: Error) => sock.end(`error: ${e.message}\n`));
    });
    sock.on('error', () => undefined);
  });
  server.listen(socketPath, () => {
    fs.chownSync(socketPath, owner.uid, owner.gid);
    fs.chmodSync(socketPath, 0o600);
  });
  return server;
}

/** Client side, used by the pgswarm-ctl and pgnode-hook commands. */
export function sendControl(socketPath: string, line: string, timeoutMs = 120000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(line + '\n'));
    s.on('data', (d) => (out += d));
    s.on('end', () => {
      clearTimeout(t);
      out.startsWith('ok') ? resolve(out.trim()) : reject(new Error(out.trim() || 'connection closed'));
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

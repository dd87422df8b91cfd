#!/usr/bin/env node
/**
 * Docker HEALTHCHECK of a pgproxy: exit 0 when the agent's state file is
 * fresh, a primary is known and routed, and PgBouncer answers on its socket.
 * Needs no credentials: it reads $PGSWARM_PROXY_HOME/state.json and sends a
 * protocol SSLRequest to PgBouncer's unix socket (any answer = alive).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { proxyHealth } from '../core/proxy-health';

function probe(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => {
      const b = Buffer.alloc(8);
      b.writeInt32BE(8, 0);
      b.writeInt32BE(80877103, 4);
      s.write(b);
    });
    s.on('data', (d) => done(d.length > 0 && (d[0] === 0x53 || d[0] === 0x4e)));
  });
}

async function main(): Promise<number> {
  const home = process.env.PGSWARM_PROXY_HOME || '/var/lib/pgswarm-proxy';
  const maxAge = Number(process.env.PGSWARM_HEALTH_MAX_AGE_MS || 10000);
  let state: Record<string, unknown> | null = null;
  try {
    state = JSON.parse(fs.readFileSync(path.join(home, 'state.json'), 'utf8'));
  } catch {
    state = null;
  }
  const v = proxyHealth(state as never, Date.now(), maxAge);
  if (!v.ok) {
    process.stdout.write(`unhealthy: ${v.reason}\n`);
    return 1;
  }
  const sock = path.join(String(state!.socketDir), `.s.PGSQL.${state!.listenPort}`);
  if (!(await probe(sock, 1000))) {
    process.stdout.write(`unhealthy: PgBouncer does not answer on ${sock}\n`);
    return 1;
  }
  process.stdout.write(`healthy: ${v.reason}\n`);
  return 0;
}

main().then((c) => process.exit(c), (e) => { process.stdout.write(`unhealthy: ${(e as Error).message}\n`); process.exit(1); });

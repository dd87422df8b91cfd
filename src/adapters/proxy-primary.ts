import { Client } from 'pg';
import { closeClient } from './pg-connect';
import fs from 'node:fs';
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Endpoint, Member } from '../core/node-config';
import type { ProxyAnswer } from '../core/decide-role';
import { primaryFromShowDatabases, BouncerDbRow } from '../core/show-databases';

export interface AskProxyOptions {
  statsUser: string;
  statsPassword: string;
  caFile: string;
  timeoutMs: number;
  members: readonly Member[];
}

/** Asks one PgBouncer admin console (as the stats-only user, over verified TLS) which member it routes to. */
export async function askProxy(p: Endpoint, o: AskProxyOptions): Promise<ProxyAnswer> {
  const label = `${p.host}:${p.port}`;
  const c = new Client({
    host: p.host,
    port: p.port,
    user: o.statsUser,
    password: o.statsPassword,
    database: 'pgbouncer',
    connectionTimeoutMillis: o.timeoutMs,
    query_timeout: o.timeoutMs,
    ssl: { ca: fs.readFileSync(o.caFile, 'utf8'), rejectUnauthorized: true, ...(isIP(p.host) ? {} : { servername: p.host }) },
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const r = await c.query('SHOW DATABASES');
    const addrs = new Map<string, string[]>();
    await Promise.all(o.members.map(async (m) => {
      try {
        addrs.set(m.name, (await dns.lookup(m.host, { all: true })).map((a) => a.address));
      } catch {
        addrs.set(m.name, []);
      }
    }));
    const { primary } = primaryFromShowDatabases(r.rows as BouncerDbRow[], o.members, addrs);
    return primary ? { proxy: label, status: 'primary', primary } : { proxy: label, status: 'no-primary' };
  } catch (e) {
    return { proxy: label, status: 'unreachable', error: (e as Error).message };
  } finally {
    await closeClient(c);
  }
}

export function askProxies(proxies: readonly Endpoint[], o: AskProxyOptions): Promise<ProxyAnswer[]> {
  return Promise.all(proxies.map((p) => askProxy(p, o)));
}

import { Client } from 'pg';
import { closeClient, pgClientConfig } from './pg-connect';
import type { PgSessions } from './pg-sessions';
import { promises as dns } from 'node:dns';
import type { Endpoint, Member } from '../core/node-config';
import type { ProxyAnswer } from '../core/decide-role';
import { primaryFromShowDatabases, BouncerDbRow } from '../core/show-databases';

export interface AskProxyOptions {
  statsUser: string;
  statsPassword: string;
  caFile: string;
  timeoutMs: number;
  members: readonly Member[];
  /** Long-lived agents keep one console session per proxy open. */
  sessions?: PgSessions;
}

async function showDatabases(p: Endpoint, o: AskProxyOptions): Promise<BouncerDbRow[]> {
  const t = { host: p.host, port: p.port, user: o.statsUser, password: o.statsPassword, database: 'pgbouncer', caFile: o.caFile, timeoutMs: o.timeoutMs, adminConsole: true };
  if (o.sessions) return o.sessions.query<BouncerDbRow>(t, 'SHOW DATABASES', [], o.timeoutMs);
  const c = new Client({ ...pgClientConfig(t), query_timeout: o.timeoutMs });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query('SHOW DATABASES')).rows as BouncerDbRow[];
  } finally {
    await closeClient(c);
  }
}

/** Asks one PgBouncer admin console (as the stats-only user, over verified TLS) which member it routes to. */
export async function askProxy(p: Endpoint, o: AskProxyOptions): Promise<ProxyAnswer> {
  const label = `${p.host}:${p.port}`;
  try {
    const rows = await showDatabases(p, o);
    const addrs = new Map<string, string[]>();
    await Promise.all(o.members.map(async (m) => {
      try {
        addrs.set(m.name, (await dns.lookup(m.host, { all: true })).map((a) => a.address));
      } catch {
        addrs.set(m.name, []);
      }
    }));
    const { primary } = primaryFromShowDatabases(rows, o.members, addrs);
    return primary ? { proxy: label, status: 'primary', primary } : { proxy: label, status: 'no-primary' };
  } catch (e) {
    return { proxy: label, status: 'unreachable', error: (e as Error).message };
  }
}

export function askProxies(proxies: readonly Endpoint[], o: AskProxyOptions): Promise<ProxyAnswer[]> {
  return Promise.all(proxies.map((p) => askProxy(p, o)));
}

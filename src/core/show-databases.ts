import type { Member } from './node-config';

export interface BouncerDbRow {
  name: string;
  host: string | null;
  port: number | string | null;
  paused?: number | string | null;
  disabled?: number | string | null;
}

/**
 * Which member a PgBouncer routes to, from its `SHOW DATABASES` rows.
 * Ignores the admin console (`pgbouncer`) and rows without a host. A paused
 * bouncer, one routing nowhere, or one routing to several members or to an
 * unknown address has no primary to offer.
 */
export function primaryFromShowDatabases(rows: readonly BouncerDbRow[], members: readonly Member[], addrs: ReadonlyMap<string, readonly string[]> = new Map()): { primary: string | null; reason: string } {
  const routed = rows.filter((r) => r.name !== 'pgbouncer' && r.host);
  if (routed.length === 0) return { primary: null, reason: 'no database is routed anywhere' };
  if (routed.every((r) => Number(r.paused ?? 0) === 1 || Number(r.disabled ?? 0) === 1)) return { primary: null, reason: 'every database is paused' };
  const targets = new Set(routed.map((r) => `${r.host}:${r.port}`));
  if (targets.size > 1) return { primary: null, reason: `databases route to several servers: ${[...targets].join(', ')}` };
  const [host, port] = [routed[0].host, Number(routed[0].port)];
  // The proxies route by address; `addrs` holds each member's resolved addresses.
  const m = members.find((x) => (x.host === host || (addrs.get(x.name) ?? []).includes(String(host))) && x.port === port);
  if (!m) return { primary: null, reason: `routes to ${host}:${port}, which is no known member` };
  return { primary: m.name, reason: `routes to ${m.name} (${host}:${port})` };
}

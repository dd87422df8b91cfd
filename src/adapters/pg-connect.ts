import fs from 'node:fs';
import { isIP } from 'node:net';
import { Client, ClientConfig } from 'pg';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** CA file: the server certificate is verified against it and its name (verify-full). */
  caFile: string;
  timeoutMs: number;
  /** PgBouncer's admin console: it refuses startup parameters such as statement_timeout. */
  adminConsole?: boolean;
}

/**
 * A TLS connection with full verification. Field notes pitfall 9: node-postgres
 * treats sslmode strings oddly, so we pass explicit ssl options, never a URL.
 * search_path is pinned to pg_catalog, pg_temp in the startup packet (no database or
 * role setting overrides it): our SQL names its own schemas, and an operator or
 * function some other role planted in a schema of the path never runs with our
 * (often superuser) rights (see docs/security.md, "Database roles").
 */
export const PINNED_SEARCH_PATH = '-c search_path=pg_catalog,pg_temp';

export function pgClientConfig(t: PgTarget): ClientConfig {
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    connectionTimeoutMillis: t.timeoutMs,
    query_timeout: t.timeoutMs * 3,
    ...(t.adminConsole ? {} : { statement_timeout: t.timeoutMs * 3, options: PINNED_SEARCH_PATH }),
    ssl: {
      ca: fs.readFileSync(t.caFile, 'utf8'),
      rejectUnauthorized: true,
      ...(isIP(t.host) ? {} : { servername: t.host }),
    },
  };
}

/**
 * Ends a client without ever hanging: end() waits for the server to close the socket, and a
 * frozen or cut-off server never does (a probe of a frozen peer then blocked its caller for
 * good: a primary stopped re-checking its majority and never fenced). After `ms` the socket is
 * destroyed.
 */
export async function closeClient(c: Client | null | undefined, ms = 1000): Promise<void> {
  if (!c) return;
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    c.end().then(() => true, () => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  if (timer) clearTimeout(timer);
  if (!ended) (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export async function withPg<T>(t: PgTarget, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client(pgClientConfig(t));
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await closeClient(c);
  }
}

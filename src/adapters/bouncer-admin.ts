/**
 * PgBouncer admin console over the `pg` package (simple query protocol only:
 * the console accepts no parameters). One short-lived connection per command,
 * so a PAUSE waiting for queries never blocks a later RESUME, and a restarted
 * PgBouncer needs no reconnect logic.
 */
import { Client, ClientConfig } from 'pg';
import { closeClient } from './pg-connect';
import type { ConnectionOptions } from 'node:tls';
import type { Bouncer, ConsoleRow } from '../ports/bouncer';

export interface BouncerAdminOptions {
  /** Host name, or the unix socket directory (starts with '/'). */
  host: string;
  port: number;
  user: string;
  password: string;
  /** TLS options for TCP (required by our PgBouncer for TCP clients). */
  ssl?: ConnectionOptions;
  /** Connect and per-command timeout. */
  timeoutMs?: number;
}

export class BouncerAdmin implements Bouncer {
  constructor(private readonly o: BouncerAdminOptions) {}

  private config(): ClientConfig {
    return {
      host: this.o.host,
      port: this.o.port,
      user: this.o.user,
      password: this.o.password,
      database: 'pgbouncer',
      ssl: this.o.host.startsWith('/') ? false : this.o.ssl ?? false,
      connectionTimeoutMillis: this.o.timeoutMs ?? 2000,
      application_name: 'pgswarm-proxy-agent',
    };
  }

  /** Runs one console command on a fresh connection, bounded by timeoutMs. */
  async command(sql: string, timeoutMs = this.o.timeoutMs ?? 2000): Promise<ConsoleRow[]> {
    if (!/^[A-Za-z_ ]+$/.test(sql)) throw new Error(`bouncer-admin: refusing console command ${JSON.stringify(sql)}`);
    const c = new Client(this.config());
    c.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = (async () => {
        await c.connect();
        const r = await c.query(sql);
        return (r.rows ?? []) as ConsoleRow[];
      })();
      const timeout = new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(Object.assign(new Error(`bouncer-admin: "${sql}" timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      });
      return await Promise.race([run, timeout]);
    } finally {
      if (timer) clearTimeout(timer);
      void closeClient(c);
    }
  }

  showDatabases(): Promise<ConsoleRow[]> {
    return this.command('SHOW DATABASES');
  }

  showPools(): Promise<ConsoleRow[]> {
    return this.command('SHOW POOLS');
  }

  async pause(timeoutMs = 1000): Promise<'paused' | 'pending'> {
    try {
      await this.command('PAUSE', timeoutMs);
      return 'paused';
    } catch (e) {
      const m = (e as Error).message;
      if (/already suspended\/paused/i.test(m)) return 'paused';
      if ((e as { code?: string }).code === 'ETIMEDOUT') return 'pending';
      throw e;
    }
  }

  async resume(): Promise<'resumed' | 'not-paused'> {
    try {
      await this.command('RESUME');
      return 'resumed';
    } catch (e) {
      if (/not paused|not suspended/i.test((e as Error).message)) return 'not-paused';
      throw e;
    }
  }

  async reload(): Promise<void> {
    await this.command('RELOAD');
  }
}

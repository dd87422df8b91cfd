#!/usr/bin/env node
/**
 * pgswarm-token create --name NAME --ttl 1h [--id ID]   (signing key from PGSWARM_SIGNING_KEY_FILE)
 * pgswarm-token revoke ID [--reason TEXT]               (registry from the usual PG* variables)
 * The operator CLI (`pgswarm token ...`) calls the same functions.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createToken, decodeTokenUnverified, TOKEN_ID_RE } from '../core/join-token';
import { PgRegistryStore } from '../adapters/registry-store';

export function parseTtl(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad --ttl ${JSON.stringify(s)}: use e.g. 900, 15m, 2h, 1d`);
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Creates a token; returns {id, token}. The signing key is read from a file, never from argv. */
export function tokenCreate(args: string[], env: NodeJS.ProcessEnv, now = new Date()): { id: string; expires: string; token: string } {
  const name = arg(args, '--name');
  const ttl = arg(args, '--ttl') ?? '1h';
  const keyFile = env.PGSWARM_SIGNING_KEY_FILE;
  const errs: string[] = [];
  if (!name) errs.push('--name is required');
  if (!keyFile) errs.push('PGSWARM_SIGNING_KEY_FILE must name the cluster signing key file');
  if (errs.length) throw new Error(errs.join('; '));
  const secret = readFileSync(keyFile as string, 'utf8').trim();
  const token = createToken({ kind: 'proxy', name: name as string, ttlSeconds: parseTtl(ttl), id: arg(args, '--id') }, secret, now);
  const p = decodeTokenUnverified(token) ?? {};
  return { id: String(p.id), expires: new Date(Number(p.exp) * 1000).toISOString(), token };
}

export async function tokenRevoke(db: pg.Client | pg.Pool, id: string, reason?: string): Promise<number> {
  if (!TOKEN_ID_RE.test(id)) throw new Error(`bad token id ${JSON.stringify(id)}`);
  return new PgRegistryStore(db).revokeToken(id, reason);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'create') {
    const r = tokenCreate(rest, process.env);
    process.stderr.write(`token id ${r.id}, expires ${r.expires}; give it to the proxy as a Docker secret\n`);
    process.stdout.write(`${r.token}\n`);
    return 0;
  }
  if (cmd === 'revoke' && rest[0]) {
    const c = new pg.Client({ connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      const n = await tokenRevoke(c, rest[0], arg(rest, '--reason'));
      process.stdout.write(`revoked ${rest[0]}; retired ${n} proxy key(s)\n`);
    } finally {
      await c.end();
    }
    return 0;
  }
  process.stderr.write('usage: pgswarm-token create --name NAME [--ttl 1h] [--id ID] | revoke ID [--reason TEXT]\n');
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((c) => process.exit(c), (e) => {
    process.stderr.write(`pgswarm-token: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

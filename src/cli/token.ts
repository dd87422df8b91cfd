/**
 * pgswarm token create|revoke|list: join tokens for proxies, signed with the
 * cluster key from the local directory. Revocation is written into the
 * cluster's registry on the primary (psql over TLS inside its container).
 */
import { createToken, TOKEN_ID_RE } from '../core/join-token';
import { primarySql, SUPERUSER_DATABASE } from './app-role';
import { CliContext, CliError, readLocal, writeLocal } from './context';
import { parseDurationSeconds } from './args';
import { readTokens, recordToken } from './init';
import { KEY_LABEL, STACK_LABEL, TOKENS_FILE } from './cluster-secrets';
import { table } from './status-view';

export async function runToken(ctx: CliContext): Promise<void> {
  if (ctx.sub === 'create') return tokenCreate(ctx);
  if (ctx.sub === 'revoke') return tokenRevoke(ctx);
  const rows = readTokens(ctx.dir).map((t) => [t.id, t.name, new Date(t.exp * 1000).toISOString(), t.revoked ? `revoked ${t.revoked}` : t.exp * 1000 < Date.now() ? 'expired' : 'valid']);
  ctx.out(table(['ID', 'NAME', 'EXPIRES', 'STATE'], rows));
}

async function tokenCreate(ctx: CliContext): Promise<void> {
  const name = ctx.flags.name;
  if (typeof name !== 'string') throw new CliError('token create: --name NAME is required (the proxy\'s PGSWARM_PROXY_NAME)');
  const ttl = parseDurationSeconds(String(ctx.flags.ttl ?? '1h'));
  if (ttl === null) throw new CliError('token create: --ttl: use e.g. 900, 15m, 2h, 1d');
  const key = readLocal(ctx, 'signing.key');
  const token = createToken({ kind: 'proxy', name, ttlSeconds: ttl }, key, Date.now());
  const rec = recordToken(ctx.dir, token);
  ctx.err(`token ${rec.id} for ${name}, expires ${new Date(rec.exp * 1000).toISOString()}`);
  const secret = ctx.flags.secret;
  if (typeof secret === 'string') {
    await ctx.docker.requireSwarmManager();
    await ctx.docker.createSecret(secret, token, { [STACK_LABEL]: ctx.stack, [KEY_LABEL]: `token:${rec.id}` });
    ctx.err(`stored as Docker secret ${secret}; give it to the proxy as PGSWARM_JOIN_TOKEN_FILE`);
    return;
  }
  ctx.out(token);
}

async function tokenRevoke(ctx: CliContext): Promise<void> {
  const id = ctx.positionals[0];
  if (!id || !TOKEN_ID_RE.test(id)) throw new CliError('token revoke: give the token id (pgswarm token list)');
  await ctx.docker.requireSwarmManager();
  const reason = typeof ctx.flags.reason === 'string' ? ctx.flags.reason : 'revoked by operator';
  // The same statements as PgRegistryStore.revokeToken, run as the superuser inside the
  // primary's container (superusers cannot log in through the proxies), with qualified operators and
  // functions and a pinned search_path (see app-role.ts).
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const out = await primarySql(ctx, { sql: [
    'BEGIN;',
    `INSERT INTO pgswarm.revoked_tokens (token_id, reason) VALUES (${lit(id)}, ${lit(reason)}) ON CONFLICT (token_id) DO NOTHING;`,
    // Rows stay: readers ignore them at once, and the next key sync replaces each with a signed tombstone.
    `SELECT pg_catalog.count(*) FROM pgswarm.registry WHERE kind OPERATOR(pg_catalog.=) 'proxy' AND token_id OPERATOR(pg_catalog.=) ${lit(id)} AND NOT retired;`,
    'COMMIT;',
  ].join('\n'), database: SUPERUSER_DATABASE });
  const n = Number(out.trim().split('\n').filter((l) => /^\d+$/.test(l)).pop() ?? 0);
  const all = readTokens(ctx.dir).map((t) => (t.id === id ? { ...t, revoked: new Date().toISOString() } : t));
  writeLocal(ctx.dir, TOKENS_FILE, JSON.stringify(all, null, 2));
  ctx.out(`revoked ${id}; retired ${n} enrolled proxy key(s)`);
}

/**
 * The application role. The proxies' auth_query refuses superusers (by
 * design), so clients connect as a plain login role that owns POSTGRES_DB.
 * `up`/`deploy` make sure it exists, through `psql` inside the primary's
 * container over TLS (verify-full against the cluster CA). Only a SCRAM
 * verifier of its password leaves this machine, never the password.
 *
 * Superuser SQL never runs inside a database another role owns (issue 13): the
 * owner of `app` can create operators and functions there and set the
 * database's search_path, so an unqualified `=` in a superuser's statement
 * would call its code as the superuser. Every statement the CLI runs as the
 * superuser runs in the `postgres` database, with search_path pinned to
 * `pg_catalog, pg_temp` in the connection's startup packet (no database or role
 * setting overrides it) and again as its first statement, and names its
 * operators and functions with their schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { scramVerifier } from '../core/scram';
import { CliContext, CliError, writeLocal } from './context';
import { topologyOfServices } from './topology';
import { observeNode } from './status';

export const APP_USER = 'app';
export const APP_PASSWORD_FILE = 'app.password';

export function ensureAppPasswordFile(dir: string): string {
  const p = path.join(dir, APP_PASSWORD_FILE);
  if (!fs.existsSync(p)) writeLocal(dir, APP_PASSWORD_FILE, randomBytes(24).toString('base64url'));
  return fs.readFileSync(p, 'utf8').trim();
}

const sqlLit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlId = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Pure: the statements that create or update the application role and hand it the database. Run
 * in the `postgres` database. No GRANT on the database's schema public: since PostgreSQL 15 it is
 * owned by pg_database_owner, so the new owner has every right on it (and granting would mean
 * running superuser SQL inside the application's database).
 */
export function appRoleSql(user: string, verifier: string, database: string): string {
  return [
    `DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) ${sqlLit(user)}) THEN CREATE ROLE ${sqlId(user)} LOGIN; END IF; END $do$;`,
    `ALTER ROLE ${sqlId(user)} WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS PASSWORD ${sqlLit(verifier)};`,
    `ALTER DATABASE ${sqlId(database)} OWNER TO ${sqlId(user)};`,
  ].join('\n');
}

/** The only database the CLI runs superuser SQL in: no unprivileged role owns it or can create objects in it. */
export const SUPERUSER_DATABASE = 'postgres';
/** search_path of every superuser session of the CLI: nothing any other role can create objects in. */
export const SAFE_SEARCH_PATH = 'pg_catalog, pg_temp';

/**
 * Runs SQL as the superuser inside the primary's container; returns psql's output. A cluster that
 * just became healthy may not have a node that reports itself primary for a moment (a loaded node's
 * probe of itself times out): it looks again for up to `waitMs`.
 */
export async function primarySql(ctx: CliContext, step: SuperuserSql, waitMs = 60000): Promise<string> {
  const services = await ctx.docker.stackServices(ctx.stack);
  const nodes = topologyOfServices(services.map((s) => s.Spec?.Name ?? ''), ctx.stack).dataNodes;
  const until = Date.now() + waitMs;
  for (;;) {
    for (const n of nodes) {
      const o = await observeNode(ctx, n);
      if (!o.containerId || o.cp?.role !== 'primary') continue;
      return await runSql(ctx, n, o.containerId, step);
    }
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new CliError(`no node reports itself primary (looked for ${Math.round(waitMs / 1000)} s)`);
}

/** A statement set the CLI runs as the superuser, and the database it runs in (always `postgres`). */
export interface SuperuserSql {
  sql: string;
  database: typeof SUPERUSER_DATABASE;
}

/**
 * The command the CLI runs inside the primary's container: psql as the superuser over TLS
 * (verify-full against the cluster CA) to the node's own name, in the `postgres` database, with
 * search_path pinned in the startup packet (`options`) and by a first SET. `port` is 5432 in every
 * stack; tests pass their own.
 */
export function superuserSqlArgv(step: SuperuserSql, port = 5432): string[] {
  if (step.database !== SUPERUSER_DATABASE) throw new Error(`superuser SQL runs only in the ${SUPERUSER_DATABASE} database`);
  const options = `-c search_path=${SAFE_SEARCH_PATH.replace(/ /g, '')}`;
  const script = 'PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" exec "$PGSWARM_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At '
    + `"host=$PGSWARM_NODE_NAME port=${port} dbname=${SUPERUSER_DATABASE} user=\${POSTGRES_USER:-postgres} options='${options}' sslmode=verify-full sslrootcert=$PGSWARM_CA_CERT_FILE connect_timeout=5" -c "$1"`;
  return ['sh', '-c', script, 'psql', `SET search_path = ${SAFE_SEARCH_PATH};\n${step.sql}`];
}

async function runSql(ctx: CliContext, n: string, containerId: string, step: SuperuserSql): Promise<string> {
  const r = await ctx.docker.exec(containerId, superuserSqlArgv(step), { timeoutMs: 30000 });
  if (r.code !== 0) throw new CliError(`SQL on ${n} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout;
}

/** Databases the superuser and repmgr run SQL in: the application role must never own one of them. */
export const SYSTEM_DATABASES = [SUPERUSER_DATABASE, 'template0', 'template1', 'repmgr'];

/** The step `up` and `deploy --wait` run: the application role, with a SCRAM verifier of its password. */
export function appRoleStep(password: string, database: string): SuperuserSql {
  if (SYSTEM_DATABASES.includes(database)) {
    throw new CliError(`POSTGRES_DB=${database}: the application role would own a database the superuser and repmgr run SQL in; use a database of its own (default app)`);
  }
  return { sql: appRoleSql(APP_USER, scramVerifier(password, randomBytes(16)), database), database: SUPERUSER_DATABASE };
}

export async function ensureAppRole(ctx: CliContext): Promise<void> {
  const pw = ensureAppPasswordFile(ctx.dir);
  const db = ctx.env.POSTGRES_DB || 'app';
  await primarySql(ctx, appRoleStep(pw, db));
  ctx.err(`[app] role ${APP_USER} owns database ${db} (password in ${path.join(ctx.dir, APP_PASSWORD_FILE)})`);
}

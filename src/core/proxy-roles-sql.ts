/**
 * SQL that creates what PgBouncer's auth_query needs on the cluster, with the
 * narrowest grants:
 *  - a LOGIN role (the auth_user) with no other privilege than EXECUTE on one
 *    function; connection-limited; no inheritance;
 *  - schema pgswarm_proxy, closed to PUBLIC, with user_lookup(name): a
 *    SECURITY DEFINER function (owned by the superuser running this) that
 *    returns the SCRAM verifier of a login role. It never returns
 *    superusers, replication roles or the auth_user itself, so none of those
 *    can log in through a proxy, and it pins search_path.
 *
 * PgBouncer 1.18 (Debian 12) runs auth_query inside the client's database
 * (auth_dbname arrived in 1.19), so the function statements must run in every
 * database clients use, and in template1 so later databases inherit it:
 * run proxyRolesSql() once (it includes the function for the database it is
 * run in) and proxyAuthFunctionSql() in every other database. Every
 * statement is idempotent. The password statement carries the secret: never
 * log it. Prefer passing a SCRAM verifier (see core/scram.ts) over a clear
 * password so the server never sees the clear text.
 */

export const AUTH_SCHEMA = 'pgswarm_proxy';
export const AUTH_FUNCTION = `${AUTH_SCHEMA}.user_lookup`;

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

function ident(s: string): string {
  if (!IDENT.test(s)) throw new Error(`proxy-roles-sql: ${JSON.stringify(s)} is not a plain lower-case identifier`);
  return `"${s}"`;
}

export function sqlLiteral(s: string): string {
  if (s.includes('\0')) throw new Error('proxy-roles-sql: NUL in literal');
  return `'${s.replace(/'/g, "''")}'`;
}

/** Statements for the database they are run in: schema, lookup function, grants. */
export function proxyAuthFunctionSql(authUser: string): string[] {
  const u = ident(authUser);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${AUTH_SCHEMA}`,
    `REVOKE ALL ON SCHEMA ${AUTH_SCHEMA} FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA ${AUTH_SCHEMA} TO ${u}`,
    `CREATE OR REPLACE FUNCTION ${AUTH_FUNCTION}(i_username text)
  RETURNS TABLE (uname text, phash text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT a.rolname::text,
         CASE WHEN a.rolvaliduntil < now() THEN NULL ELSE a.rolpassword END
    FROM pg_catalog.pg_authid a
   WHERE a.rolname = i_username
     AND a.rolcanlogin
     AND NOT a.rolsuper
     AND NOT a.rolreplication
     AND a.rolname <> ${sqlLiteral(authUser)}
$fn$`,
    `REVOKE ALL ON FUNCTION ${AUTH_FUNCTION}(text) FROM PUBLIC`,
    `GRANT EXECUTE ON FUNCTION ${AUTH_FUNCTION}(text) TO ${u}`,
  ];
}

/** Run once (as a superuser) on the primary: the role, then the function for this database. */
export function proxyRolesSql(o: { authUser: string; authPasswordScramOrPlain: string }): string[] {
  const u = ident(o.authUser);
  if (o.authPasswordScramOrPlain === '') throw new Error('proxy-roles-sql: empty password');
  return [
    `DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${sqlLiteral(o.authUser)}) THEN
    CREATE ROLE ${u} LOGIN;
  END IF;
END $do$`,
    `ALTER ROLE ${u} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20 PASSWORD ${sqlLiteral(o.authPasswordScramOrPlain)}`,
    ...proxyAuthFunctionSql(o.authUser),
  ];
}

/**
 * Attack (issue 13, item 3): the `app` role owns its database, so it can plant objects there and
 * change the database's settings. `pgswarm up` / `deploy --wait` run the application-role step
 * as the superuser. If that SQL runs inside `app`'s database with the database's search_path, an
 * unqualified `=` resolves to an operator of `app`'s own and runs its function as the superuser.
 *
 * Real PostgreSQL 15 on loopback, the CLI's real step (appRoleStep) run through the very psql
 * command the CLI runs inside the primary's container (superuserSqlArgv), with the container's
 * environment variables pointing at this server. The trojan records who ran it; no row may show a
 * superuser and `app` must not become one. A positive control at the end shows the trojan is live:
 * a superuser session in `app`'s database that does not protect itself does fire it.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { appRoleStep, superuserSqlArgv, SuperuserSql } from '../../src/cli/app-role';
import { withPg } from '../../src/adapters/pg-connect';
import { makeTempDir, makeTls, instance, initPrimary, stopPg, direct, PG_BIN, SUPER_PW } from '../helpers/proxy-fixtures';

const PORT = 16100;
const APP_PW = 'app-password-for-the-test';

const TROJAN = [
  'CREATE TABLE public.trojan_log (at timestamptz DEFAULT pg_catalog.now(), who name, super boolean, via text)',
  'GRANT ALL ON public.trojan_log TO PUBLIC',
  `CREATE FUNCTION public.trojan_eq(a name, b name) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE s boolean;
BEGIN
  SELECT r.rolsuper INTO s FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
  INSERT INTO public.trojan_log (who, super, via) VALUES (current_user, s, 'operator');
  IF s THEN
    -- Lasting gains: the CLI's own ALTER ROLE ... NOSUPERUSER later in the step would undo the first one.
    EXECUTE 'ALTER ROLE app SUPERUSER';
    EXECUTE 'GRANT pg_execute_server_program TO app';
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'trojan_su'::name) THEN
      EXECUTE 'CREATE ROLE trojan_su SUPERUSER';
    END IF;
  END IF;
  RETURN a::text OPERATOR(pg_catalog.=) b::text;
END $f$`,
  'CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.trojan_eq)',
  // Same for text = text and an unqualified count(): whatever the superuser's SQL might call.
  `CREATE FUNCTION public.trojan_eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM public.trojan_eq(a::name, b::name);
  RETURN a OPERATOR(pg_catalog.=) b;
END $f$`,
  'CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trojan_eq_text)',
  'ALTER DATABASE app SET search_path = public, pg_catalog',
  'ALTER ROLE app SET search_path = public, pg_catalog',
];

t.test('the CLI\'s superuser SQL never runs a function planted by the app role', async (t) => {
  const dir = makeTempDir('sql-trojan');
  const inst = instance(dir, 'n1', PORT);
  const tls = await makeTls(dir);
  await initPrimary(dir, inst, tls);
  t.teardown(async () => {
    await stopPg(inst, 'immediate').catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // What the node agent does at initialisation: the application database, owned by the superuser.
  await direct(tls, PORT, (c) => c.query('CREATE DATABASE app OWNER postgres'));

  // The environment of the pgnode container that the CLI's `docker exec` runs in.
  const pwFile = path.join(dir, 'postgres.password');
  fs.writeFileSync(pwFile, `${SUPER_PW}\n`, { mode: 0o600 });
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    POSTGRES_PASSWORD_FILE: pwFile,
    PGSWARM_PG_BINDIR: PG_BIN,
    PGSWARM_NODE_NAME: '127.0.0.1',
    PGSWARM_CA_CERT_FILE: tls.caCert,
    POSTGRES_USER: 'postgres',
  };
  const runStep = (step: SuperuserSql) => new Promise<string>((resolve, reject) => {
    const [cmd, ...args] = superuserSqlArgv(step, PORT);
    execFile(cmd, args, { env, timeout: 30000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
  });
  const appIsSuper = () => direct(tls, PORT, async (c) => (await c.query("SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) 'app'")).rows[0]?.rolsuper as boolean | undefined);
  const superusers = () => direct(tls, PORT, async (c) => (await c.query('SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.rolsuper ORDER BY 1')).rows.map((r) => r.rolname as string));
  const memberships = () => direct(tls, PORT, async (c) => (await c.query("SELECT pg_catalog.pg_get_userbyid(m.roleid) AS g FROM pg_catalog.pg_auth_members m WHERE m.member OPERATOR(pg_catalog.=) 'app'::regrole")).rows.map((r) => r.g as string));
  const trojanRows = () => direct(tls, PORT, async (c) => (await c.query('SELECT who, super FROM public.trojan_log')).rows as { who: string; super: boolean }[], { database: 'app' });

  // First `up`: the role is created and handed the database.
  await runStep(appRoleStep(APP_PW, 'app'));
  t.equal(await appIsSuper(), false, 'after the first up: app exists and is no superuser');

  // As app: plant the trojan in its own database (it owns it, and schema public with it).
  await direct(tls, PORT, async (c) => {
    for (const sql of TROJAN) await c.query(sql);
  }, { user: 'app', password: APP_PW, database: 'app' });
  // What app cannot do: reach the postgres database's settings or schemas, or other roles' settings.
  for (const sql of [
    'ALTER DATABASE postgres SET search_path = public, pg_catalog',
    'ALTER ROLE postgres SET search_path = public, pg_catalog',
    'ALTER ROLE ALL SET search_path = public, pg_catalog',
    'CREATE SCHEMA trojan',
    'CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
  ]) {
    const err = await direct(tls, PORT, (c) => c.query(sql), { user: 'app', password: APP_PW, database: 'postgres' }).then(() => null, (e: Error) => e);
    t.ok(err, `app cannot: ${sql} (${err?.message})`);
  }
  t.same(await trojanRows(), [], 'the trojan has not run yet');

  // `up` again (every step is idempotent, `up` is "make it so again"): the same step, as the CLI runs it.
  const out = await runStep(appRoleStep(APP_PW, 'app')).then(() => 'ok', (e: Error) => e.message);
  t.equal(out, 'ok', 'the app-role step succeeds with the trojan planted');
  const rows = await trojanRows();
  t.same(rows.filter((r) => r.super !== false), [], `the trojan never ran as a superuser (rows: ${JSON.stringify(rows)})`);
  t.equal(await appIsSuper(), false, 'app is still no superuser');
  t.same(await superusers(), ['postgres'], 'no other superuser appeared');
  t.same(await memberships(), [], 'app was granted no role');
  const owner = await direct(tls, PORT, async (c) => (await c.query("SELECT pg_catalog.pg_get_userbyid(d.datdba) AS o FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) 'app'")).rows[0].o);
  t.equal(owner, 'app', 'app owns its database');
  t.equal(await direct(tls, PORT, async (c) => (await c.query('SELECT 1 AS one')).rows[0].one, { user: 'app', password: APP_PW, database: 'app' }), 1, 'app logs in with its password');

  // The agents' sessions (pgClientConfig) pin search_path too: even a superuser query with a bare
  // `=` inside app's database does not reach the planted operator.
  await withPg({ host: '127.0.0.1', port: PORT, user: 'postgres', password: SUPER_PW, database: 'app', caFile: tls.caCert, timeoutMs: 2000 },
    (c) => c.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'nobody'"));
  t.same((await trojanRows()).filter((r) => r.super !== false), [], 'an agent session (pgClientConfig) does not run the planted operator');

  // Positive control: a superuser session in app's database with its default settings fires the trojan.
  await direct(tls, PORT, (c) => c.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'nobody'"), { database: 'app' });
  t.ok((await trojanRows()).some((r) => r.super === true), 'control: the planted operator does run for an unprotected superuser query in app\'s database');
  t.equal(await appIsSuper(), true, 'control: and it makes app a superuser');
});

import t from 'tap';
import { proxyRolesSql, proxyAuthFunctionSql, sqlLiteral } from '../../src/core/proxy-roles-sql';

t.test('role, then function, with the narrowest grants', async (t) => {
  const s = proxyRolesSql({ authUser: 'pgswarm_auth', authPasswordScramOrPlain: "it's" });
  const all = s.join(';\n');
  t.match(s[0], /IF NOT EXISTS .*CREATE ROLE "pgswarm_auth" LOGIN/s, 'idempotent create');
  t.match(all, /NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS/);
  t.match(all, /PASSWORD 'it''s'/, 'password quoted');
  t.match(all, /SECURITY DEFINER/);
  t.match(all, /SET search_path = pg_catalog, pg_temp/);
  t.match(all, /NOT a\.rolsuper/);
  t.match(all, /NOT a\.rolreplication/);
  t.match(all, /REVOKE ALL ON FUNCTION pgswarm_proxy\.user_lookup\(text\) FROM PUBLIC/);
  t.match(all, /GRANT EXECUTE ON FUNCTION pgswarm_proxy\.user_lookup\(text\) TO "pgswarm_auth"/);
  t.match(all, /REVOKE ALL ON SCHEMA pgswarm_proxy FROM PUBLIC/);
  t.notMatch(all, /GRANT (SELECT|ALL)/, 'no table grants');
  t.same(s.slice(2), proxyAuthFunctionSql('pgswarm_auth'), 'function part is the per-database part');
});

t.test('refuses unsafe identifiers and empty passwords', async (t) => {
  t.throws(() => proxyRolesSql({ authUser: 'x"; DROP ROLE postgres; --', authPasswordScramOrPlain: 'p' }));
  t.throws(() => proxyAuthFunctionSql('Bad'));
  t.throws(() => proxyRolesSql({ authUser: 'a', authPasswordScramOrPlain: '' }));
  t.equal(sqlLiteral("a'b"), "'a''b'");
});

import t from 'tap';
import { renderPgbouncerIni, renderAuthFile, renderDatabases, PgbouncerIniInput } from '../../src/core/render-pgbouncer';

const base: PgbouncerIniInput = {
  listenAddr: '*', listenPort: 6432, unixSocketDir: '/var/lib/pgswarm-proxy/run', route: { host: 'pgnode2', port: 5432 },
  noRouteDir: '/var/lib/pgswarm-proxy/no-primary', databases: ['*'], authFile: '/var/lib/pgswarm-proxy/userlist.txt',
  authUser: 'pgswarm_auth', adminUser: 'pgswarm_proxy_admin', statsUser: 'pgswarm_stats',
  clientTlsCertFile: '/var/lib/pgswarm-proxy/tls/server.crt', clientTlsKeyFile: '/var/lib/pgswarm-proxy/tls/server.key', serverTlsCaFile: '/run/secrets/ca.crt',
  poolMode: 'transaction', defaultPoolSize: 20, maxClientConn: 2000, maxDbConnections: 80, queryWaitTimeoutSecs: 30,
  serverConnectTimeoutSecs: 2, serverLoginRetrySecs: 1, logConnections: false,
};

function settings(ini: string): Record<string, string> {
  const out: Record<string, string> = {};
  let section = '';
  for (const l of ini.split('\n')) {
    const s = /^\[(\w+)\]$/.exec(l);
    if (s) { section = s[1]; continue; }
    const m = /^([^;=\s][^=]*?)\s*=\s*(.*)$/.exec(l);
    if (m) out[`${section}.${m[1]}`] = m[2];
  }
  return out;
}

t.test('routes every database to the primary', async (t) => {
  const s = settings(renderPgbouncerIni(base));
  t.equal(s['databases.*'], 'host=pgnode2 port=5432');
});

t.test('per-database routes, fallback last', async (t) => {
  const d = renderDatabases({ ...base, databases: ['*', 'app', 'reports'] });
  t.same(d.split('\n'), ['app = host=pgnode2 port=5432', 'reports = host=pgnode2 port=5432', 'postgres = host=pgnode2 port=5432', '* = host=pgnode2 port=5432']);
  t.same(renderDatabases({ ...base, databases: ['app'] }).split('\n'), ['app = host=pgnode2 port=5432'], 'no fallback: only the named ones');
});

t.test('no primary: route to the empty socket directory, never a server', async (t) => {
  const ini = renderPgbouncerIni({ ...base, route: null });
  const s = settings(ini);
  t.equal(s['databases.*'], `host=${base.noRouteDir} port=6432`);
  t.notMatch(ini, /pgnode2/);
});

t.test('security settings', async (t) => {
  const s = settings(renderPgbouncerIni(base));
  const want: Record<string, string> = {
    'pgbouncer.auth_type': 'scram-sha-256',
    'pgbouncer.client_tls_sslmode': 'require',
    'pgbouncer.server_tls_sslmode': 'verify-full',
    'pgbouncer.server_tls_ca_file': '/run/secrets/ca.crt',
    'pgbouncer.client_tls_cert_file': base.clientTlsCertFile,
    'pgbouncer.client_tls_key_file': base.clientTlsKeyFile,
    'pgbouncer.auth_user': 'pgswarm_auth',
    'pgbouncer.admin_users': 'pgswarm_proxy_admin',
    'pgbouncer.stats_users': 'pgswarm_stats',
    'pgbouncer.unix_socket_dir': base.unixSocketDir,
    'pgbouncer.unix_socket_mode': '0700',
    'pgbouncer.listen_port': '6432',
    'pgbouncer.query_wait_timeout': '30',
  };
  for (const [k, v] of Object.entries(want)) t.equal(s[k], v, k);
  t.match(s['pgbouncer.auth_query'], /pgswarm_proxy\.user_lookup\(\$1\)/);
  t.notOk(Object.keys(s).some((k) => /auth_hba_file|trust/.test(k) || /trust|any/.test(s['pgbouncer.auth_type'])), 'no trust');
});

t.test('auth_dbname only when asked (PgBouncer >= 1.19)', async (t) => {
  t.notMatch(renderPgbouncerIni(base), /auth_dbname/);
  t.match(renderPgbouncerIni({ ...base, authDbname: 'postgres' }), /^auth_dbname = postgres$/m);
});

t.test('the pause is bounded', async (t) => {
  t.throws(() => renderPgbouncerIni({ ...base, queryWaitTimeoutSecs: 0 }), /wait forever/);
});

t.test('unsafe values are refused, not rendered', async (t) => {
  t.throws(() => renderPgbouncerIni({ ...base, route: { host: 'x\nadmin_users = mallory', port: 5432 } }), /unsafe host/);
  t.throws(() => renderPgbouncerIni({ ...base, databases: ['app = host=evil'] }), /unsafe database/);
  t.throws(() => renderPgbouncerIni({ ...base, adminUser: 'a,mallory' }), /unsafe user/);
  t.throws(() => renderPgbouncerIni({ ...base, databases: [] }), /no databases/);
  t.throws(() => renderPgbouncerIni({ ...base, listenPort: 0 }), /listenPort/);
});

t.test('same input, same content (reload only on change)', async (t) => {
  t.equal(renderPgbouncerIni(base), renderPgbouncerIni({ ...base }));
  t.not(renderPgbouncerIni(base), renderPgbouncerIni({ ...base, route: { host: 'pgnode3', port: 5432 } }));
});

t.test('auth file: quoted, only the given accounts', async (t) => {
  const f = renderAuthFile([{ user: 'pgswarm_auth', secret: 'pa"ss' }, { user: 'pgswarm_stats', secret: 'SCRAM-SHA-256$4096:abc$def:ghi' }]);
  t.equal(f, '"pgswarm_auth" "pa""ss"\n"pgswarm_stats" "SCRAM-SHA-256$4096:abc$def:ghi"\n');
  t.throws(() => renderAuthFile([{ user: 'a', secret: 'x\n"b" "y"' }]), /one line/);
  t.throws(() => renderAuthFile([{ user: 'a', secret: 'x' }, { user: 'a', secret: 'y' }]), /duplicate/);
});

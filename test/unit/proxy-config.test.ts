import t from 'tap';
import { parseProxyConfig } from '../../src/core/proxy-config';

const env = {
  PGSWARM_PROXY_NAME: 'pgproxy1',
  PGSWARM_PEERS: 'n1@pgnode1:5432:2222,n2@pgnode2:5432:2222,n3@pgnode3:5432',
  PGSWARM_CA_CERT_FILE: '/run/secrets/ca.crt',
  PGSWARM_PROXY_TLS_CERT_FILE: '/run/secrets/proxy.crt',
  PGSWARM_PROXY_TLS_KEY_FILE: '/run/secrets/proxy.key',
  PGSWARM_AUTH_PASSWORD_FILE: '/run/secrets/auth',
  PGSWARM_STATS_PASSWORD: 'stats-pw',
};
const files: Record<string, string> = { '/run/secrets/auth': 'auth-pw\n' };
const readFile = (p: string) => { if (p in files) return files[p]; throw new Error('ENOENT'); };

t.test('minimal config with defaults', async (t) => {
  const r = parseProxyConfig({ env, readFile });
  t.same(r.errors, []);
  const c = r.config!;
  t.equal(c.members.length, 3);
  t.equal(c.members[2].sshPort, 2222);
  t.equal(c.authPassword, 'auth-pw', 'secret from file, newline trimmed');
  t.equal(c.pollIntervalMs, 500);
  t.equal(c.listenPort, 6432);
  t.same(c.databases, ['*']);
  t.equal(c.poolMode, 'transaction');
  t.equal(c.adminPassword, undefined, 'admin password made at start when not given');
});

t.test('every error at once', async (t) => {
  const r = parseProxyConfig({
    env: { PGSWARM_PEERS: 'n1@h:5432,bad,n1@h2:5432', PGSWARM_POLL_INTERVAL_MS: '10', PGSWARM_QUERY_WAIT_TIMEOUT_SECS: '0', PGSWARM_PROXY_TLS_CERT_FILE: '/c', PGSWARM_STATS_USER: 'pgswarm_auth', PGSWARM_PROXY_DATABASES: 'app,pgbouncer', PGSWARM_JOIN_TOKEN: 'x' },
    readFile,
  });
  t.notOk(r.config);
  const all = r.errors.join('\n');
  for (const re of [/PGSWARM_PROXY_NAME: required/, /PGSWARM_CA_CERT_FILE: required/, /PGSWARM_AUTH_PASSWORD: required/, /PGSWARM_STATS_PASSWORD: required/, /"bad" is not/, /duplicate node names: n1/, /PGSWARM_POLL_INTERVAL_MS/, /QUERY_WAIT_TIMEOUT_SECS: must be at least 1/, /set both or neither/, /three different names/, /"pgbouncer" is the admin console/, /PGSWARM_VERIFY_KEY: required/]) {
    t.match(all, re);
  }
  t.ok(r.errors.length >= 12, `${r.errors.length} errors`);
});

t.test('needs a certificate or a join token (a node issues one); never the CA key', async (t) => {
  const { PGSWARM_PROXY_TLS_CERT_FILE: _c, PGSWARM_PROXY_TLS_KEY_FILE: _k, ...rest } = env;
  const r = parseProxyConfig({ env: rest, readFile });
  t.match(r.errors.join('\n'), /needs a TLS certificate/);
  const r2 = parseProxyConfig({ env: { ...rest, PGSWARM_PROXY_TLS_CERT_FILE: '/c.crt', PGSWARM_PROXY_TLS_KEY_FILE: '/c.key' }, readFile });
  t.same(r2.errors, []);
  const r3 = parseProxyConfig({ env: { ...rest, PGSWARM_JOIN_TOKEN: 'a.b', PGSWARM_VERIFY_KEY: 'vk', PGSWARM_ENROLL_PASSWORD: 'enroll-password-123456' }, readFile });
  t.same(r3.errors, [], 'a join token is enough: the certificate comes with the enrollment');
  t.equal(r3.config!.tlsCertFile, undefined);
  const r4 = parseProxyConfig({ env: { ...env, PGSWARM_CA_KEY_FILE: '/run/secrets/ca.key' }, readFile });
  t.match(r4.errors.join('\n'), /PGSWARM_CA_KEY_FILE: the proxy no longer takes the CA key/);
});

t.test('config file and secret file both work; env wins', async (t) => {
  const r = parseProxyConfig({ env: { ...env, PGSWARM_PROXY_PORT: '7000' }, file: { PGSWARM_PROXY_PORT: 6000, PGSWARM_POLL_INTERVAL_MS: 250 }, readFile });
  t.equal(r.config!.listenPort, 7000);
  t.equal(r.config!.pollIntervalMs, 250);
});

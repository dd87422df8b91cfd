import t from 'tap';
import { renderPostgresqlConf, renderPgHba, renderPgpass, conninfo } from '../../src/core/render-postgres';
import { renderRepmgrConf, nodeConninfo } from '../../src/core/render-repmgr';

const pgc = renderPostgresqlConf({ pgdata: '/v/data', confDir: '/v/conf', runDir: '/v/run', listenAddresses: '*', port: 5432, tlsCert: '/v/tls/server.crt', tlsKey: '/v/tls/server.key', caCert: '/run/secrets/ca.crt' });

t.test('postgresql.conf: TLS on, config outside PGDATA, rewind-ready', async (t) => {
  t.match(pgc, /^ssl = on$/m);
  t.match(pgc, /^hba_file = '\/v\/conf\/pg_hba.conf'$/m);
  t.match(pgc, /^data_directory = '\/v\/data'$/m);
  t.match(pgc, /^wal_log_hints = on$/m);
  t.match(pgc, /^password_encryption = 'scram-sha-256'$/m);
  t.match(pgc, /^wal_retrieve_retry_interval = '500ms'$/m);
  t.match(pgc, /^shared_preload_libraries = 'repmgr'$/m);
  t.notMatch(pgc, /\/v\/data\/pg_hba/);
});

t.test('quotes in values are escaped', async (t) => {
  const c = renderPostgresqlConf({ pgdata: "/v/it's", confDir: '/c', runDir: '/r', listenAddresses: '*', port: 1, tlsCert: 'a', tlsKey: 'b', caCert: 'c' });
  t.match(c, /data_directory = '\/v\/it''s'/);
});

t.test('pg_hba: hostssl only, no trust, no plaintext host lines', async (t) => {
  for (const method of ['scram-sha-256', 'cert'] as const) {
    const hba = renderPgHba({ replUser: 'repmgr', superuser: 'postgres', method });
    const rules = hba.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    t.ok(rules.length >= 4);
    for (const r of rules) {
      t.match(r, /^hostssl\s/, `TLS-only line: ${r}`);
      t.notMatch(r, /\btrust\b|\bsamehost\b|\bpassword\b|\bmd5\b|\bident\b|\bpeer\b/, 'no weak method');
      t.match(r, new RegExp(`(${method}|reject)$`));
    }
    t.notMatch(hba, /^(local|host|hostnossl)\s/m);
  }
});

/** The first line that matches a connection, as PostgreSQL picks it (first match wins). */
function firstMatch(hba: string, c: { db: string; user: string; addr: 'samenet' | 'elsewhere' }): string[] | undefined {
  for (const line of hba.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [, db, user, addr, method] = line.trim().split(/\s+/);
    const dbOk = c.db === 'replication' ? db === 'replication' : db === 'all';
    const userOk = user === 'all' || user === `"${c.user}"`;
    const addrOk = addr === 'all' || addr === '0.0.0.0/0' || (addr === 'samenet' && c.addr === 'samenet');
    if (dbOk && userOk && addrOk) return [addr, method];
  }
  return undefined;
}

t.test('pg_hba: the superuser and repmgr only from the cluster network (issue 13)', async (t) => {
  const hba = renderPgHba({ replUser: 'repmgr', superuser: 'postgres' });
  for (const user of ['postgres', 'repmgr']) {
    for (const db of ['postgres', 'repmgr', 'app']) {
      t.same(firstMatch(hba, { db, user, addr: 'samenet' }), ['samenet', 'scram-sha-256'], `${user} to ${db} from the cluster network`);
      t.same(firstMatch(hba, { db, user, addr: 'elsewhere' })?.[1], 'reject', `${user} to ${db} from elsewhere: rejected`);
    }
  }
  t.same(firstMatch(hba, { db: 'replication', user: 'repmgr', addr: 'samenet' }), ['samenet', 'scram-sha-256'], 'replication from the cluster network');
  t.same(firstMatch(hba, { db: 'replication', user: 'repmgr', addr: 'elsewhere' })?.[1], 'reject', 'replication from elsewhere: rejected');
  t.same(firstMatch(hba, { db: 'replication', user: 'app', addr: 'samenet' })?.[1], 'reject', 'replication: nobody else');
  for (const user of ['app', 'pgswarm_auth', 'pgswarm_enroll']) {
    t.same(firstMatch(hba, { db: 'app', user, addr: 'elsewhere' }), ['0.0.0.0/0', 'scram-sha-256'], `${user} as before (any address)`);
  }
  t.notMatch(hba, /0\.0\.0\.0\/0\s+\S+\n[^]*"postgres"/, 'no open line before the superuser\'s lines');
  // Names are quoted: a superuser called "all" would otherwise be the keyword.
  t.match(renderPgHba({ replUser: 'repmgr', superuser: 'all' }), /hostssl\s+all\s+"all"\s+samenet/);
  t.throws(() => renderPgHba({ replUser: 'rep mgr', superuser: 'postgres' }), /cannot be written/);
  t.throws(() => renderPgHba({ replUser: 'repmgr', superuser: 'a"b' }), /cannot be written/);
});

t.test('pgpass escapes separators', async (t) => {
  t.equal(renderPgpass([{ host: '*', port: '*', database: '*', user: 'u', password: 'a:b\\c' }]), '*:*:*:u:a\\:b\\\\c\n');
});

t.test('conninfo quoting', async (t) => {
  t.equal(conninfo({ host: 'h', port: 5, sslrootcert: "/a b/c'd" }), "host=h port=5 sslrootcert='/a b/c\\'d'");
});

t.test('repmgr.conf: verify-full conninfo, fast detection, our hooks', async (t) => {
  const m = { name: 'pgnode1', host: 'pgnode1', port: 5432, sshPort: 22 };
  const r = renderRepmgrConf({
    nodeId: 1, node: m, replUser: 'repmgr', pgdata: '/v/data', pgBinDir: '/usr/lib/postgresql/17/bin', confDir: '/v/conf', runDir: '/v/run', caCert: '/ca.crt',
    connectTimeoutSecs: 2, monitorIntervalSecs: 1, reconnectAttempts: 2, reconnectIntervalSecs: 1,
    promoteCommand: '/hook promote', followCommand: '/hook follow %n', serviceCommand: (v) => `/ctl ${v}`, sshOptions: '-o StrictHostKeyChecking=yes',
  });
  t.match(r, /^conninfo='host=pgnode1 port=5432 user=repmgr dbname=repmgr sslmode=verify-full sslrootcert=\/ca.crt connect_timeout=2'$/m);
  t.match(r, /^failover='automatic'$/m);
  t.match(r, /^monitor_interval_secs=1$/m);
  t.match(r, /^reconnect_attempts=2$/m);
  t.match(r, /^primary_visibility_consensus=no$/m);
  t.match(r, /^standby_disconnect_on_failover=no$/m);
  t.match(r, /^promote_command='\/hook promote'$/m);
  t.match(r, /^follow_command='\/hook follow %n'$/m);
  t.match(r, /^service_start_command='\/ctl start'$/m);
  t.match(r, /StrictHostKeyChecking=yes/);
  t.equal(nodeConninfo(m, 'repmgr', '/ca.crt', 2).includes('sslmode=verify-full'), true);
});

/**
 * Pure renderers for PostgreSQL's configuration. Content in, content out; the
 * caller writes a file only when its content changed. None of these files
 * lives in PGDATA: postgres is started with -c config_file=<home>/conf/postgresql.conf.
 */

export interface PgConfInput {
  pgdata: string;
  confDir: string;
  runDir: string;
  listenAddresses: string;
  port: number;
  tlsCert: string;
  tlsKey: string;
  caCert: string;
  maxConnections?: number;
  extra?: Record<string, string | number | boolean>;
}

const q = (v: string) => `'${v.replace(/'/g, "''")}'`;

export function renderPostgresqlConf(i: PgConfInput): string {
  const settings: [string, string | number | boolean][] = [
    ['data_directory', i.pgdata],
    ['hba_file', `${i.confDir}/pg_hba.conf`],
    ['ident_file', `${i.confDir}/pg_ident.conf`],
    ['listen_addresses', i.listenAddresses],
    ['port', i.port],
    ['unix_socket_directories', i.runDir],
    ['unix_socket_permissions', '0700'],
    ['max_connections', i.maxConnections ?? 100],
    // TLS from the first byte: the server refuses plaintext through pg_hba (hostssl only).
    ['ssl', true],
    ['ssl_cert_file', i.tlsCert],
    ['ssl_key_file', i.tlsKey],
    ['ssl_ca_file', i.caCert],
    ['ssl_min_protocol_version', 'TLSv1.2'],
    ['password_encryption', 'scram-sha-256'],
    // Replication and repmgr.
    ['wal_level', 'replica'],
    ['hot_standby', true],
    ['hot_standby_feedback', true],
    ['wal_log_hints', true], // pg_rewind needs it
    ['max_wal_senders', 10],
    ['max_replication_slots', 10],
    ['wal_keep_size', '512MB'],
    ['shared_preload_libraries', 'repmgr'],
    // Field notes pitfall 4: standbys reconnect after 0.5 s, not PostgreSQL's default 5 s.
    ['wal_retrieve_retry_interval', '500ms'],
    ['wal_receiver_timeout', '10s'],
    ['wal_sender_timeout', '10s'],
    // Logs go to stderr, which the entrypoint forwards; no files inside PGDATA.
    ['logging_collector', false],
    ['log_line_prefix', '%m [%p] %q%u@%d '],
    ['log_connections', false],
    ['tcp_keepalives_idle', 5],
    ['tcp_keepalives_interval', 2],
    ['tcp_keepalives_count', 3],
    // Declares our placeholder so a promotion guard may record, with ALTER SYSTEM, which candidate
    // detached this standby (PostgreSQL refuses ALTER SYSTEM for an unknown custom parameter).
    ['pgswarm.detached_by', ''],
  ];
  for (const [k, v] of Object.entries(i.extra ?? {})) settings.push([k, v]);
  const lines = settings.map(([k, v]) => `${k} = ${typeof v === 'string' ? q(v) : typeof v === 'boolean' ? (v ? 'on' : 'off') : v}`);
  return `# Rendered by pgswarm; edits are overwritten at the next start.\n${lines.join('\n')}\n`;
}

export interface HbaInput {
  /** The replication/repmgr role (a superuser). */
  replUser: string;
  /** The database superuser (POSTGRES_USER). */
  superuser: string;
  method?: 'scram-sha-256' | 'cert';
}

/** A role name as pg_hba.conf reads it: always double-quoted, so no name acts as a keyword (all, replication, +group, @file). */
function hbaRole(name: string): string {
  if (!name || /["\s\x00-\x1f\x7f,]/.test(name)) throw new Error(`pg_hba: role name ${JSON.stringify(name)} cannot be written in pg_hba.conf`);
  return `"${name}"`;
}

/**
 * hostssl only: no `local`, no `host`, no trust. A plaintext connection finds no line and is refused.
 * The superuser and the repmgr role (also a superuser; it carries replication) are admitted only
 * from `samenet`: an address in a subnet this server is directly connected to, which in a swarm
 * task is the stack's overlay network (plus docker_gwbridge, reachable from the Docker host only,
 * and loopback); from anywhere else they are rejected. Nobody connects as them from further away:
 * peers, the witness and repmgr come over the overlay, and the CLI runs psql inside the node's own
 * container. Other roles (the application's, the proxies' auth, enroll and stats users) come
 * through the proxies and from the overlay too, but keep any address: clients may connect directly.
 */
export function renderPgHba(i: HbaInput): string {
  const m = i.method ?? 'scram-sha-256';
  const su = hbaRole(i.superuser);
  const repl = hbaRole(i.replUser);
  const row = (db: string, user: string, addr: string, method: string) => `hostssl  ${db.padEnd(11)}  ${user.padEnd(12)}  ${addr.padEnd(10)}  ${method}`;
  return [
    '# Rendered by pgswarm. TLS only (hostssl), password (SCRAM) or certificate authentication.',
    '# The superuser and the repmgr role only from the cluster network (samenet).',
    '# TYPE   DATABASE     USER          ADDRESS     METHOD',
    row('replication', repl, 'samenet', m),
    row('all', repl, 'samenet', m),
    row('all', su, 'samenet', m),
    row('replication', 'all', 'all', 'reject'),
    row('all', repl, 'all', 'reject'),
    row('all', su, 'all', 'reject'),
    row('all', 'all', '0.0.0.0/0', m),
    row('all', 'all', '::/0', m),
    '',
  ].join('\n');
}

/** A libpq passfile line; ':' and '\' escaped as libpq expects. */
export function renderPgpass(entries: { host: string; port: number | '*'; database: string; user: string; password: string }[]): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return entries.map((e) => [esc(e.host), String(e.port), esc(e.database), esc(e.user), esc(e.password)].join(':')).join('\n') + '\n';
}

/** Conninfo string as libpq parses it (values quoted). */
export function conninfo(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${/^[A-Za-z0-9_./-]+$/.test(String(v)) ? v : `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`)
    .join(' ');
}

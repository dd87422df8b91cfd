/**
 * Pure renderers of PgBouncer's configuration (content in, content out).
 * The agent writes the files and reloads only when the content changed.
 *
 * Security choices:
 *  - clients must use TLS (client_tls_sslmode=require), PgBouncer verifies the
 *    servers' certificates (server_tls_sslmode=verify-full);
 *  - clients authenticate with SCRAM against the secret the *server* holds,
 *    fetched with auth_query through a dedicated role that can only call one
 *    SECURITY DEFINER lookup function (see proxy-roles-sql.ts): no userlist of
 *    application users;
 *  - the auth_file holds only the proxy's own accounts: the auth_user (whose
 *    password PgBouncer needs in clear to log in to the server), the agent's
 *    admin user and the stats user (SCRAM verifiers only);
 *  - admin console: the agent's admin user only; stats-only user for nodes;
 *  - with no primary the route points at an empty socket directory: if the
 *    pause were ever lost, clients get an error, never a wrong server.
 */

export interface Route {
  host: string;
  port: number;
}

export interface PgbouncerIniInput {
  listenAddr: string;
  listenPort: number;
  /** Directory of PgBouncer's unix socket (in the proxy home; used by the agent). */
  unixSocketDir: string;
  /** Where clients go: the current primary, or null for "nowhere". */
  route: Route | null;
  /** Socket directory with nothing listening, used as the route when there is no primary. */
  noRouteDir: string;
  /** Database names routed; '*' = every database (fallback entry). */
  databases: readonly string[];
  authFile: string;
  authUser: string;
  /** Query run as auth_user in the client's database. */
  authQuery?: string;
  /** PgBouncer ≥ 1.19 only: run auth_query in this one database. */
  authDbname?: string;
  adminUser: string;
  statsUser: string;
  clientTlsCertFile: string;
  clientTlsKeyFile: string;
  serverTlsCaFile: string;
  poolMode: 'session' | 'transaction';
  defaultPoolSize: number;
  maxClientConn: number;
  /** Cap on server connections per database (keep below the server's max_connections). */
  maxDbConnections: number;
  /** How long a client waits for a server (e.g. while paused) before it gets an error. */
  queryWaitTimeoutSecs: number;
  serverConnectTimeoutSecs: number;
  serverLoginRetrySecs: number;
  logConnections: boolean;
}

export const DEFAULT_AUTH_QUERY = 'SELECT uname, phash FROM pgswarm_proxy.user_lookup($1)';

const SAFE_VALUE = /^[A-Za-z0-9_.:/\-[\]*]+$/;
const DB_NAME = /^(\*|[A-Za-z_][A-Za-z0-9_$-]{0,62})$/;

function check(v: string, what: string, re = SAFE_VALUE): string {
  if (!re.test(v)) throw new Error(`render-pgbouncer: unsafe ${what} ${JSON.stringify(v)}`);
  return v;
}

/** Validates every value that lands unquoted in the ini; throws on anything unsafe. */
function validate(i: PgbouncerIniInput): void {
  check(i.listenAddr, 'listen address');
  check(i.unixSocketDir, 'socket directory');
  check(i.noRouteDir, 'no-route directory');
  check(i.authFile, 'auth file');
  check(i.clientTlsCertFile, 'certificate file');
  check(i.clientTlsKeyFile, 'key file');
  check(i.serverTlsCaFile, 'CA file');
  for (const u of [i.authUser, i.adminUser, i.statsUser]) check(u, 'user name', /^[a-z_][a-z0-9_]{0,62}$/);
  if (i.authDbname) check(i.authDbname, 'auth database', DB_NAME);
  if (i.route) check(i.route.host, 'host');
  if (i.databases.length === 0) throw new Error('render-pgbouncer: no databases to route');
  for (const d of i.databases) check(d, 'database name', DB_NAME);
  if ((i.authQuery ?? '').includes('\n')) throw new Error('render-pgbouncer: auth_query must be one line');
  for (const [k, n] of Object.entries({ listenPort: i.listenPort, defaultPoolSize: i.defaultPoolSize, maxClientConn: i.maxClientConn, maxDbConnections: i.maxDbConnections })) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`render-pgbouncer: ${k} must be a positive integer`);
  }
  if (!(i.queryWaitTimeoutSecs > 0)) throw new Error('render-pgbouncer: queryWaitTimeoutSecs must be positive (0 would wait forever)');
}

export function renderDatabases(i: Pick<PgbouncerIniInput, 'route' | 'noRouteDir' | 'databases' | 'listenPort'>): string {
  const target = i.route ? `host=${i.route.host} port=${i.route.port}` : `host=${i.noRouteDir} port=${i.listenPort}`;
  // explicit names first, the fallback '*' last. With '*', `postgres` is also listed explicitly: PgBouncer's
  // SHOW DATABASES does not show the fallback until a client used it, and the nodes read the route from there.
  const explicit = i.databases.filter((d) => d !== '*');
  if (i.databases.includes('*') && !explicit.includes('postgres')) explicit.push('postgres');
  const names = [...explicit, ...i.databases.filter((d) => d === '*')];
  return names.map((d) => `${d} = ${target}`).join('\n');
}

export function renderPgbouncerIni(i: PgbouncerIniInput): string {
  validate(i);
  const lines = [
    '; rendered by pgswarm pgproxy; do not edit (rewritten on every change of primary)',
    `; route: ${i.route ? `${i.route.host}:${i.route.port}` : 'none (no primary)'}`,
    '[databases]',
    renderDatabases(i),
    '',
    '[pgbouncer]',
    `listen_addr = ${i.listenAddr}`,
    `listen_port = ${i.listenPort}`,
    `unix_socket_dir = ${i.unixSocketDir}`,
    'unix_socket_mode = 0700',
    '',
    'auth_type = scram-sha-256',
    `auth_file = ${i.authFile}`,
    `auth_user = ${i.authUser}`,
    `auth_query = ${i.authQuery ?? DEFAULT_AUTH_QUERY}`,
    ...(i.authDbname ? [`auth_dbname = ${i.authDbname}`] : []),
    `admin_users = ${i.adminUser}`,
    `stats_users = ${i.statsUser}`,
    '',
    'client_tls_sslmode = require',
    `client_tls_cert_file = ${i.clientTlsCertFile}`,
    `client_tls_key_file = ${i.clientTlsKeyFile}`,
    'client_tls_protocols = secure',
    'server_tls_sslmode = verify-full',
    `server_tls_ca_file = ${i.serverTlsCaFile}`,
    'server_tls_protocols = secure',
    '',
    `pool_mode = ${i.poolMode}`,
    `default_pool_size = ${i.defaultPoolSize}`,
    `max_client_conn = ${i.maxClientConn}`,
    `max_db_connections = ${i.maxDbConnections}`,
    `query_wait_timeout = ${i.queryWaitTimeoutSecs}`,
    `server_connect_timeout = ${i.serverConnectTimeoutSecs}`,
    `server_login_retry = ${i.serverLoginRetrySecs}`,
    'dns_max_ttl = 1',
    'dns_nxdomain_ttl = 1', // swarm DNS drops a task's name while it restarts: do not cache that for 15 s
    'ignore_startup_parameters = extra_float_digits',
    `log_connections = ${i.logConnections ? 1 : 0}`,
    `log_disconnections = ${i.logConnections ? 1 : 0}`,
    'log_pooler_errors = 1',
    '',
  ];
  return lines.join('\n');
}

export interface AuthFileEntry {
  user: string;
  /** A SCRAM verifier, or (only for the auth_user, which PgBouncer must log in with) a password. */
  secret: string;
}

function quote(s: string): string {
  if (/[\n\r\0]/.test(s)) throw new Error('render-pgbouncer: auth_file values must be one line');
  return `"${s.replace(/"/g, '""')}"`;
}

export function renderAuthFile(entries: readonly AuthFileEntry[]): string {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.user)) throw new Error(`render-pgbouncer: duplicate auth_file user ${e.user}`);
    seen.add(e.user);
  }
  return entries.map((e) => `${quote(e.user)} ${quote(e.secret)}`).join('\n') + '\n';
}

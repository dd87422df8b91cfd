/**
 * pgproxy settings: the same sources and rules as the node's (settings.ts):
 * env < --config JSON file < env, secrets via NAME_FILE; every error at once.
 */
import { parseSettings, SettingSpec, Sources } from './settings';
import { Member, parseMembers, parseWitness } from './node-config';

export interface ProxyConfig {
  proxyName: string;
  members: Member[];
  /** The 2+1 topology's referee: asked like a node and counted in the vote, never routed to. */
  witness?: Member;
  listenAddr: string;
  listenPort: number;
  databases: string[];
  home: string;
  /** Root-owned directory (0755) of the health file the container's health check reads. */
  healthDir: string;
  pgbouncerBin: string;
  /** OS user PgBouncer runs as when the agent runs as root (PgBouncer refuses root). */
  runUser: string;
  caCertFile: string;
  /** Both (a certificate given by the operator), or neither: the key is made here and a data node signs its CSR at enrollment. The proxy never holds the CA key. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  authUser: string;
  authPassword: string;
  statsUser: string;
  statsPassword: string;
  adminUser: string;
  /** Undefined: the agent makes a random one at start (it never leaves the process). */
  adminPassword?: string;
  pollIntervalMs: number;
  sshTimeoutMs: number;
  sshUser: string;
  queryWaitTimeoutSecs: number;
  poolMode: 'session' | 'transaction';
  defaultPoolSize: number;
  maxClientConn: number;
  maxDbConnections: number;
  joinToken?: string;
  verifyKey?: string;
  enrollUser: string;
  enrollPassword?: string;
  logLevel: string;
}

const NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const USER_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const userCheck = (v: string) => (USER_RE.test(v) ? null : 'must be a plain lower-case identifier');

export const PROXY_SETTINGS: readonly SettingSpec[] = [
  { name: 'PGSWARM_PROXY_NAME', kind: 'string', required: true, help: 'this proxy\'s name (as enrolled in the registry)', check: (v) => (NAME_RE.test(v) ? null : 'must be lower-case letters, digits, - or _, starting with a letter') },
  { name: 'PGSWARM_PEERS', kind: 'list', required: true, help: 'every data node: name@host:pgport[:sshport], comma-separated' },
  { name: 'PGSWARM_WITNESS', kind: 'string', help: 'the witness (referee without data) asked and counted in the vote like a node, never routed to: name@host:port[:sshport], the same value the nodes are given' },
  { name: 'PGSWARM_PROXY_LISTEN_ADDR', kind: 'string', default: '*', help: 'address PgBouncer listens on for clients (TLS required)' },
  { name: 'PGSWARM_PROXY_PORT', kind: 'port', default: '6432', help: 'client port; the admin console (database "pgbouncer") is on the same port for the stats user, and on a unix socket in PGSWARM_PROXY_HOME for the agent' },
  { name: 'PGSWARM_PROXY_DATABASES', kind: 'list', default: '*', help: 'databases routed to the primary; * = all' },
  { name: 'PGSWARM_PROXY_HOME', kind: 'path', default: '/var/lib/pgswarm-proxy', help: 'the proxy\'s volume: keys, rendered pgbouncer.ini, state file' },
  { name: 'PGSWARM_PROXY_HEALTH_DIR', kind: 'path', default: '/run/pgswarm-proxy', help: 'root-owned directory (0755, outside PGSWARM_PROXY_HOME, which PgBouncer\'s user owns) where the agent keeps the one-line `health` file read by the health check (images/pgproxy/pgproxy-health)' },
  { name: 'PGSWARM_PGBOUNCER_BIN', kind: 'path', default: '/usr/sbin/pgbouncer', help: 'PgBouncer binary' },
  { name: 'PGSWARM_PROXY_RUN_USER', kind: 'string', default: 'postgres', help: 'OS user PgBouncer runs as when the agent runs as root' },
  { name: 'PGSWARM_CA_CERT_FILE', kind: 'path', required: true, help: 'cluster CA certificate: verifies the servers (verify-full)' },
  { name: 'PGSWARM_PROXY_TLS_CERT_FILE', kind: 'path', help: 'certificate PgBouncer shows to clients (with PGSWARM_PROXY_TLS_KEY_FILE)' },
  { name: 'PGSWARM_PROXY_TLS_KEY_FILE', kind: 'path', help: 'key of PGSWARM_PROXY_TLS_CERT_FILE' },
  { name: 'PGSWARM_AUTH_USER', kind: 'string', default: 'pgswarm_auth', check: userCheck, help: 'minimal role PgBouncer runs auth_query as' },
  { name: 'PGSWARM_AUTH_PASSWORD', kind: 'secret', required: true, help: 'password of PGSWARM_AUTH_USER' },
  { name: 'PGSWARM_STATS_USER', kind: 'string', default: 'pgswarm_stats', check: userCheck, help: 'stats-only console user (nodes ask it who is primary)' },
  { name: 'PGSWARM_STATS_PASSWORD', kind: 'secret', required: true, help: 'password of the stats user' },
  { name: 'PGSWARM_PROXY_ADMIN_USER', kind: 'string', default: 'pgswarm_proxy_admin', check: userCheck, help: 'the agent\'s own admin console user (the only admin)' },
  { name: 'PGSWARM_PROXY_ADMIN_PASSWORD', kind: 'secret', help: 'password of the admin user [default: random, made at start, never stored in clear]' },
  { name: 'PGSWARM_POLL_INTERVAL_MS', kind: 'duration-ms', default: '500', help: 'how often the agent reconciles PgBouncer with the vote (no I/O when nothing changed); nodes are not polled: each streams its answers over one SSH session (only a node too old to stream is asked again every PGSWARM_POLL_INTERVAL_MS)' },
  { name: 'PGSWARM_SSH_TIMEOUT_MS', kind: 'duration-ms', default: '2500', help: 'timeout of one SSH connect; a node stream silent for this + 1000 ms (heartbeats come every second) is dropped and reconnected' },
  { name: 'PGSWARM_SSH_USER', kind: 'string', default: 'pgswarm-answer', help: 'account on the nodes that holds the proxy\'s restricted key (the nodes\' PGSWARM_ANSWER_USER)' },
  { name: 'PGSWARM_QUERY_WAIT_TIMEOUT_SECS', kind: 'int', default: '30', help: 'longest a client waits while there is no primary (PgBouncer query_wait_timeout); then a clear error' },
  { name: 'PGSWARM_PROXY_POOL_MODE', kind: 'string', default: 'transaction', oneOf: ['session', 'transaction'], help: 'PgBouncer pool_mode' },
  { name: 'PGSWARM_PROXY_POOL_SIZE', kind: 'int', default: '20', help: 'server connections per user and database' },
  { name: 'PGSWARM_PROXY_MAX_CLIENT_CONN', kind: 'int', default: '2000', help: 'client connections accepted' },
  { name: 'PGSWARM_PROXY_MAX_DB_CONNECTIONS', kind: 'int', default: '80', help: 'server connections per database (below the servers\' max_connections)' },
  { name: 'PGSWARM_JOIN_TOKEN', kind: 'secret', help: 'signed join token used to enroll this proxy\'s SSH key' },
  { name: 'PGSWARM_ENROLL_USER', kind: 'string', default: 'pgswarm_enroll', check: userCheck, help: 'low-privilege role the proxy enrolls its SSH key through' },
  { name: 'PGSWARM_ENROLL_PASSWORD', kind: 'secret', help: 'its password (required with PGSWARM_JOIN_TOKEN)' },
  { name: 'PGSWARM_VERIFY_KEY', kind: 'string', help: 'cluster ed25519 verify key (base64): checks registry rows' },
  { name: 'PGSWARM_LOG_LEVEL', kind: 'string', default: 'info', oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], help: 'log level' },
];

export function parseProxyConfig(src: Sources): { config?: ProxyConfig; errors: string[] } {
  const { values: v, errors } = parseSettings(PROXY_SETTINGS, src);
  const members = parseMembers(v.PGSWARM_PEERS as string[] | undefined, errors);
  if (v.PGSWARM_PEERS && (v.PGSWARM_PEERS as string[]).length === 0) errors.push('PGSWARM_PEERS: at least one node is needed');
  const witness = parseWitness(v.PGSWARM_WITNESS as string | undefined, members, errors);
  for (const d of (v.PGSWARM_PROXY_DATABASES as string[] | undefined) ?? []) {
    if (!/^(\*|[A-Za-z_][A-Za-z0-9_$-]{0,62})$/.test(d)) errors.push(`PGSWARM_PROXY_DATABASES: "${d}" is not a database name or *`);
  }
  if (v.PGSWARM_PROXY_DATABASES && (v.PGSWARM_PROXY_DATABASES as string[]).length === 0) errors.push('PGSWARM_PROXY_DATABASES: at least one database (or *) is needed');
  if ((v.PGSWARM_PROXY_DATABASES as string[] | undefined)?.includes('pgbouncer')) errors.push('PGSWARM_PROXY_DATABASES: "pgbouncer" is the admin console');
  const listen = v.PGSWARM_PROXY_LISTEN_ADDR as string | undefined;
  if (listen !== undefined && !/^(\*|[A-Za-z0-9_.:-]+)(,(\*|[A-Za-z0-9_.:-]+))*$/.test(listen)) errors.push('PGSWARM_PROXY_LISTEN_ADDR: must be * or addresses separated by commas');
  const cert = v.PGSWARM_PROXY_TLS_CERT_FILE as string | undefined;
  const key = v.PGSWARM_PROXY_TLS_KEY_FILE as string | undefined;
  if ((cert === undefined) !== (key === undefined)) errors.push('PGSWARM_PROXY_TLS_CERT_FILE and PGSWARM_PROXY_TLS_KEY_FILE: set both or neither');
  if (cert === undefined && key === undefined && v.PGSWARM_JOIN_TOKEN === undefined) errors.push('PGSWARM_PROXY_TLS_CERT_FILE/PGSWARM_PROXY_TLS_KEY_FILE or PGSWARM_JOIN_TOKEN: the proxy needs a TLS certificate for clients; give one, or a join token so that a node issues one at enrollment (the proxy never holds the CA key)');
  if (src.env?.PGSWARM_CA_KEY_FILE !== undefined || (src.file && 'PGSWARM_CA_KEY_FILE' in src.file)) errors.push('PGSWARM_CA_KEY_FILE: the proxy no longer takes the CA key (a data node signs its certificate request); remove it');
  const users = ['PGSWARM_AUTH_USER', 'PGSWARM_STATS_USER', 'PGSWARM_PROXY_ADMIN_USER'].map((k) => v[k] as string | undefined).filter((x): x is string => !!x);
  if (new Set(users).size !== users.length) errors.push('PGSWARM_AUTH_USER, PGSWARM_STATS_USER, PGSWARM_PROXY_ADMIN_USER: must be three different names');
  const poll = v.PGSWARM_POLL_INTERVAL_MS as number | undefined;
  if (poll !== undefined && (poll < 50 || poll > 60000)) errors.push('PGSWARM_POLL_INTERVAL_MS: must be between 50 and 60000');
  const sshT = v.PGSWARM_SSH_TIMEOUT_MS as number | undefined;
  if (sshT !== undefined && sshT < 100) errors.push('PGSWARM_SSH_TIMEOUT_MS: must be at least 100');
  const qwt = v.PGSWARM_QUERY_WAIT_TIMEOUT_SECS as number | undefined;
  if (qwt !== undefined && qwt < 1) errors.push('PGSWARM_QUERY_WAIT_TIMEOUT_SECS: must be at least 1 (0 would make clients wait forever)');
  for (const k of ['PGSWARM_PROXY_POOL_SIZE', 'PGSWARM_PROXY_MAX_CLIENT_CONN', 'PGSWARM_PROXY_MAX_DB_CONNECTIONS']) {
    if ((v[k] as number | undefined) === 0) errors.push(`${k}: must be at least 1`);
  }
  if (v.PGSWARM_JOIN_TOKEN && !v.PGSWARM_VERIFY_KEY) errors.push('PGSWARM_VERIFY_KEY: required when PGSWARM_JOIN_TOKEN is set');
  if (v.PGSWARM_JOIN_TOKEN && !v.PGSWARM_ENROLL_PASSWORD) errors.push('PGSWARM_ENROLL_PASSWORD: required when PGSWARM_JOIN_TOKEN is set');
  if (errors.length) return { errors };
  return {
    errors,
    config: {
      proxyName: v.PGSWARM_PROXY_NAME as string,
      members,
      witness,
      listenAddr: listen as string,
      listenPort: v.PGSWARM_PROXY_PORT as number,
      databases: v.PGSWARM_PROXY_DATABASES as string[],
      home: v.PGSWARM_PROXY_HOME as string,
      healthDir: v.PGSWARM_PROXY_HEALTH_DIR as string,
      pgbouncerBin: v.PGSWARM_PGBOUNCER_BIN as string,
      runUser: v.PGSWARM_PROXY_RUN_USER as string,
      caCertFile: v.PGSWARM_CA_CERT_FILE as string,
      tlsCertFile: cert,
      tlsKeyFile: key,
      authUser: v.PGSWARM_AUTH_USER as string,
      authPassword: v.PGSWARM_AUTH_PASSWORD as string,
      statsUser: v.PGSWARM_STATS_USER as string,
      statsPassword: v.PGSWARM_STATS_PASSWORD as string,
      adminUser: v.PGSWARM_PROXY_ADMIN_USER as string,
      adminPassword: v.PGSWARM_PROXY_ADMIN_PASSWORD as string | undefined,
      pollIntervalMs: poll as number,
      sshTimeoutMs: sshT as number,
      sshUser: v.PGSWARM_SSH_USER as string,
      queryWaitTimeoutSecs: qwt as number,
      poolMode: v.PGSWARM_PROXY_POOL_MODE as 'session' | 'transaction',
      defaultPoolSize: v.PGSWARM_PROXY_POOL_SIZE as number,
      maxClientConn: v.PGSWARM_PROXY_MAX_CLIENT_CONN as number,
      maxDbConnections: v.PGSWARM_PROXY_MAX_DB_CONNECTIONS as number,
      joinToken: v.PGSWARM_JOIN_TOKEN as string | undefined,
      verifyKey: v.PGSWARM_VERIFY_KEY as string | undefined,
      enrollUser: v.PGSWARM_ENROLL_USER as string,
      enrollPassword: v.PGSWARM_ENROLL_PASSWORD as string | undefined,
      logLevel: v.PGSWARM_LOG_LEVEL as string,
    },
  };
}

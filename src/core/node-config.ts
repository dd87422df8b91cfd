import { parseSettings, SettingSpec, Sources } from './settings';
import { SyncMode, SYNC_MODES } from './sync-standbys';
import { rowTtlErrors } from './row-lifecycle';

/** A cluster member as the other members and proxies reach it. */
export interface Member {
  name: string;
  host: string;
  port: number;
  sshPort: number;
}

export interface Endpoint {
  host: string;
  port: number;
}

export type NodeRoleSetting = 'data' | 'witness';

export interface NodeConfig {
  /** 'data' (a PostgreSQL data node) or 'witness' (a referee without data, docs/zero-loss.md). */
  role: NodeRoleSetting;
  nodeName: string;
  nodeId: number;
  /** How this node is reached by others (its own entry in PGSWARM_PEERS; a witness: PGSWARM_WITNESS). */
  self: Member;
  /** Every data member of the cluster, this node included (a witness is never in it). */
  members: Member[];
  /** PgBouncer admin consoles to ask "who is primary". */
  proxies: Endpoint[];
  bootstrapNode: string;
  listenAddresses: string;
  setupPort: number;
  home: string;
  pgdata: string;
  pgBinDir: string;
  repmgrBin: string;
  runUser: string;
  superuser: string;
  superuserPassword: string;
  database: string;
  initdbArgs: string;
  initdbScriptsDir: string;
  replUser: string;
  replPassword: string;
  statsUser: string;
  statsPassword: string;
  caCertFile: string;
  caKeyFile: string;
  monitorIntervalSecs: number;
  reconnectAttempts: number;
  reconnectIntervalSecs: number;
  connectTimeoutSecs: number;
  startupTimeoutMs: number;
  waitRetryMs: number;
  signingKey?: string;
  verifyKey?: string;
  sshdBin: string;
  sshUser: string;
  /** The account the proxies' restricted keys log in as (never the PostgreSQL OS user). */
  answerUser: string;
  enrollPassword?: string;
  /** Names (DNS or IP) the operator adds to every proxy's TLS certificate besides the proxy's own name (node names are never added). */
  proxyCertNames: string[];
  authUser: string;
  authPassword?: string;
  keySyncIntervalMs: number;
  /** Lifetime of the registry rows this node signs; renewed at half-life. */
  registryRowTtlMs: number;
  logLevel: string;
  /** Zero-loss settings (docs/zero-loss.md). */
  syncMode: SyncMode;
  degradeAfterMs: number;
  fenceAfterMs: number;
  /** A standby detached by a promotion guard re-attaches to the same primary only after this long. */
  detachLeaseMs: number;
  syncIntervalMs: number;
  /** A referee that votes but holds no data (repmgr witness or our own), if any. */
  witness?: Member;
}

const NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;

/** Settings that only make sense on a data node; a witness given any of them refuses to start. */
export const DATA_ONLY_SETTINGS: readonly string[] = [
  'PGSWARM_BOOTSTRAP_NODE', 'PGSWARM_PROXIES', 'POSTGRES_DB', 'POSTGRES_INITDB_ARGS', 'PGSWARM_INITDB_SCRIPTS',
  'PGSWARM_STATS_PASSWORD', 'PGSWARM_AUTH_PASSWORD', 'PGSWARM_ENROLL_PASSWORD',
  'PGSWARM_SYNC_MODE', 'PGSWARM_DEGRADE_AFTER_MS', 'PGSWARM_FENCE_AFTER_MS', 'PGSWARM_SYNC_INTERVAL_MS',
];

export const NODE_SETTINGS: readonly SettingSpec[] = [
  { name: 'PGSWARM_ROLE', kind: 'string', default: 'data', oneOf: ['data', 'witness'], help: 'data: a PostgreSQL data node; witness: a referee without data for the 2+1 topology (its own name@host:port is PGSWARM_WITNESS; never promoted)' },
  { name: 'PGSWARM_NODE_NAME', kind: 'string', required: true, help: 'this node\'s name; must appear in PGSWARM_PEERS (a witness: in PGSWARM_WITNESS)', check: (v) => (NAME_RE.test(v) ? null : 'must be lower-case letters, digits, - or _, starting with a letter') },
  { name: 'PGSWARM_NODE_ID', kind: 'int', required: true, help: 'unique numeric id (repmgr node_id), 1 or more' },
  { name: 'PGSWARM_PEERS', kind: 'list', required: true, help: 'every data node: name@host:pgport[:sshport], comma-separated, this node included' },
  { name: 'PGSWARM_PROXIES', kind: 'list', default: '', help: 'PgBouncer admin consoles asked who is primary: host:port, comma-separated' },
  { name: 'PGSWARM_BOOTSTRAP_NODE', kind: 'string', help: 'the node that initialises a brand-new cluster (only when no cluster exists); required on data nodes' },
  { name: 'PGSWARM_LISTEN_ADDRESSES', kind: 'string', default: '*', help: 'PostgreSQL listen_addresses' },
  { name: 'PGSWARM_SETUP_PORT', kind: 'port', default: '5431', help: 'hidden port PostgreSQL listens on while the node is being set up' },
  { name: 'PGSWARM_HOME', kind: 'path', default: '/var/lib/pgswarm', help: 'the node\'s volume: keys, rendered config, markers (outside PGDATA)' },
  { name: 'PGDATA', kind: 'path', help: 'PostgreSQL data directory [default: $PGSWARM_HOME/data]' },
  { name: 'PGSWARM_PG_BINDIR', kind: 'path', help: 'directory of initdb, pg_ctl, postgres [default: found under /usr/lib/postgresql]' },
  { name: 'PGSWARM_REPMGR_BIN', kind: 'path', help: 'path of repmgr [default: $PGSWARM_PG_BINDIR/repmgr]' },
  { name: 'PGSWARM_RUN_USER', kind: 'string', default: 'postgres', help: 'OS user that runs PostgreSQL and repmgr' },
  { name: 'POSTGRES_USER', kind: 'string', default: 'postgres', help: 'database superuser name' },
  { name: 'POSTGRES_PASSWORD', kind: 'secret', required: true, help: 'database superuser password' },
  { name: 'POSTGRES_DB', kind: 'string', default: 'app', help: 'application database created on the first primary' },
  { name: 'POSTGRES_INITDB_ARGS', kind: 'string', default: '', help: 'extra initdb arguments' },
  { name: 'PGSWARM_INITDB_SCRIPTS', kind: 'path', default: '/docker-entrypoint-initdb.d', help: '*.sql and *.sh run once on the first primary' },
  { name: 'PGSWARM_REPMGR_USER', kind: 'string', default: 'repmgr', help: 'replication/repmgr role' },
  { name: 'PGSWARM_REPMGR_PASSWORD', kind: 'secret', required: true, help: 'password of the repmgr role' },
  { name: 'PGSWARM_STATS_USER', kind: 'string', default: 'pgswarm_stats', help: 'stats-only PgBouncer console user used to ask who is primary' },
  { name: 'PGSWARM_STATS_PASSWORD', kind: 'secret', help: 'password of the stats user (required when PGSWARM_PROXIES is set)' },
  { name: 'PGSWARM_CA_CERT_FILE', kind: 'path', required: true, help: 'cluster CA certificate (public)' },
  { name: 'PGSWARM_CA_KEY_FILE', kind: 'path', required: true, help: 'cluster CA key, used locally to issue this node\'s certificate (a Docker secret)' },
  { name: 'PGSWARM_MONITOR_INTERVAL_SECS', kind: 'int', default: '1', help: 'repmgrd monitor interval' },
  { name: 'PGSWARM_RECONNECT_ATTEMPTS', kind: 'int', default: '2', help: 'repmgrd reconnect attempts before failover' },
  { name: 'PGSWARM_RECONNECT_INTERVAL_SECS', kind: 'int', default: '1', help: 'seconds between reconnect attempts' },
  { name: 'PGSWARM_CONNECT_TIMEOUT_SECS', kind: 'int', default: '2', help: 'connect_timeout of every check' },
  { name: 'PGSWARM_STARTUP_TIMEOUT_MS', kind: 'duration-ms', default: '60000', help: 'how long to wait for PostgreSQL to accept connections' },
  { name: 'PGSWARM_WAIT_RETRY_MS', kind: 'duration-ms', default: '2000', help: 'retry interval while the decision is "wait"' },
  { name: 'PGSWARM_SIGNING_KEY', kind: 'secret', help: 'cluster ed25519 signing key (base64 of the 64-byte secret key)' },
  { name: 'PGSWARM_VERIFY_KEY', kind: 'string', help: 'cluster ed25519 verify key (base64)' },
  { name: 'PGSWARM_SSHD_BIN', kind: 'path', default: '/usr/sbin/sshd', help: 'OpenSSH server binary' },
  { name: 'PGSWARM_SSH_USER', kind: 'string', default: 'postgres', help: 'the account repmgr\'s node-client keys log in as (the PostgreSQL OS user)' },
  { name: 'PGSWARM_ANSWER_USER', kind: 'string', default: 'pgswarm-answer', help: 'the account the proxies\' keys log in as: forced to run the answer relay, its own uid so the PostgreSQL OS user cannot reach it' },
  { name: 'PGSWARM_ENROLL_PASSWORD', kind: 'secret', help: 'password of the low-privilege role proxies enroll their SSH key through' },
  { name: 'PGSWARM_PROXY_CERT_NAMES', kind: 'list', default: '', help: 'extra names (DNS or IP) put in every proxy\'s client-facing TLS certificate besides its own name, e.g. a public host name; node and witness names are never allowed' },
  { name: 'PGSWARM_AUTH_USER', kind: 'string', default: 'pgswarm_auth', help: 'minimal role the proxies\' PgBouncer runs auth_query as' },
  { name: 'PGSWARM_AUTH_PASSWORD', kind: 'secret', help: 'its password; when set, the first primary creates the role and its lookup function' },
  { name: 'PGSWARM_KEY_SYNC_INTERVAL_MS', kind: 'duration-ms', default: '2000', help: 'how often the signed key registry is read and authorized_keys/known_hosts re-rendered' },
  { name: 'PGSWARM_REGISTRY_ROW_TTL_MS', kind: 'duration-ms', default: '86400000', help: 'lifetime of the registry rows this node signs (its own keys, proxy keys, tombstones); each is renewed at half-life, so the registry must be writable at least once in that half' },
  { name: 'PGSWARM_SYNC_MODE', kind: 'string', default: 'async', oneOf: SYNC_MODES, help: 'async: commits never wait for a standby; strict: a commit is acknowledged only once a standby flushed it, writes wait when none is there (nothing acknowledged is lost); degrade: like strict, but switches to async after PGSWARM_DEGRADE_AFTER_MS without a standby' },
  { name: 'PGSWARM_DEGRADE_AFTER_MS', kind: 'duration-ms', default: '10000', help: 'degrade mode: how long writes wait without a streaming standby before switching to asynchronous (logged loudly)' },
  { name: 'PGSWARM_DETACH_LEASE_MS', kind: 'duration-ms', default: '10000', help: 'a standby detached by a promotion candidate (so a woken old primary finds no standby to confirm its commits) follows the new primary at once, or re-attaches to the old one after this long when no promotion came of it' },
  { name: 'PGSWARM_FENCE_AFTER_MS', kind: 'duration-ms', default: '6000', help: 'a primary that cannot reach a majority of members, witness and proxies for this long stops PostgreSQL (0 = never on lost majority)' },
  { name: 'PGSWARM_SYNC_INTERVAL_MS', kind: 'duration-ms', default: '500', help: 'tick of the synchronous-standby, standby-history and fencing loop' },
  { name: 'PGSWARM_WITNESS', kind: 'string', help: 'a witness (referee without data) counted in votes: name@host:port' },
  { name: 'PGSWARM_LOG_LEVEL', kind: 'string', default: 'info', oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], help: 'log level' },
];

/** Parses `name@host:port[:sshport]`. */
export function parseMember(s: string, defaultSsh = 2222): Member | string {
  const m = /^([a-z][a-z0-9_-]{0,62})@([A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})(?::(\d{1,5}))?$/.exec(s);
  if (!m) return `"${s}" is not name@host:port[:sshport]`;
  const port = Number(m[3]);
  const sshPort = m[4] ? Number(m[4]) : defaultSsh;
  if (port < 1 || port > 65535 || sshPort < 1 || sshPort > 65535) return `"${s}" has a port outside 1-65535`;
  return { name: m[1], host: m[2], port, sshPort };
}

export function parseEndpoint(s: string): Endpoint | string {
  const m = /^([A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return `"${s}" is not host:port`;
  return { host: m[1], port: Number(m[2]) };
}

/** PGSWARM_PEERS entries as members; malformed and duplicate entries are added to `errors`. */
export function parseMembers(list: readonly string[] | undefined, errors: string[]): Member[] {
  const members: Member[] = [];
  for (const p of list ?? []) {
    const m = parseMember(p);
    if (typeof m === 'string') errors.push(`PGSWARM_PEERS: ${m}`);
    else members.push(m);
  }
  const names = members.map((m) => m.name);
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  if (dup.length) errors.push(`PGSWARM_PEERS: duplicate node names: ${[...new Set(dup)].join(', ')}`);
  return members;
}

/** Pure: every problem in one list; a config only when there are none. */
export function parseNodeConfig(src: Sources): { config?: NodeConfig; errors: string[] } {
  const { values: v, errors, origin } = parseSettings(NODE_SETTINGS, src);
  const members = parseMembers(v.PGSWARM_PEERS as string[] | undefined, errors);
  const names = members.map((m) => m.name);
  const proxies: Endpoint[] = [];
  for (const p of (v.PGSWARM_PROXIES as string[] | undefined) ?? []) {
    const e = parseEndpoint(p);
    if (typeof e === 'string') errors.push(`PGSWARM_PROXIES: ${e}`);
    else proxies.push(e);
  }
  const name = v.PGSWARM_NODE_NAME as string | undefined;
  const role = (v.PGSWARM_ROLE as NodeRoleSetting | undefined) ?? 'data';
  const isWitness = role === 'witness';
  /** An unknown PGSWARM_ROLE is reported once; checks that depend on the role are skipped. */
  const roleKnown = v.PGSWARM_ROLE !== undefined;
  let self = members.find((m) => m.name === name);
  if (roleKnown && !isWitness && name && v.PGSWARM_PEERS && !self) errors.push(`PGSWARM_PEERS: this node (${name}) is not in the list`);
  const boot = v.PGSWARM_BOOTSTRAP_NODE as string | undefined;
  if (roleKnown && !isWitness && !boot) errors.push('PGSWARM_BOOTSTRAP_NODE: required (the node that initialises a brand-new cluster); set PGSWARM_BOOTSTRAP_NODE');
  if (boot && members.length && !names.includes(boot)) errors.push(`PGSWARM_BOOTSTRAP_NODE: ${boot} is not in PGSWARM_PEERS`);
  const id = v.PGSWARM_NODE_ID as number | undefined;
  if (id !== undefined && (id < 1 || id > 2147483647)) errors.push('PGSWARM_NODE_ID: must be between 1 and 2147483647');
  if (proxies.length && !v.PGSWARM_STATS_PASSWORD) errors.push('PGSWARM_STATS_PASSWORD: required when PGSWARM_PROXIES is set (set it or PGSWARM_STATS_PASSWORD_FILE)');
  if (self && v.PGSWARM_SETUP_PORT === self.port) errors.push('PGSWARM_SETUP_PORT: must differ from this node\'s public port');
  if ((v.PGSWARM_MONITOR_INTERVAL_SECS as number) < 1) errors.push('PGSWARM_MONITOR_INTERVAL_SECS: must be at least 1');
  if ((v.PGSWARM_CONNECT_TIMEOUT_SECS as number) < 1) errors.push('PGSWARM_CONNECT_TIMEOUT_SECS: must be at least 1');
  if ((v.PGSWARM_RECONNECT_ATTEMPTS as number) < 1) errors.push('PGSWARM_RECONNECT_ATTEMPTS: must be at least 1');
  for (const u of ['POSTGRES_USER', 'PGSWARM_REPMGR_USER', 'PGSWARM_STATS_USER', 'PGSWARM_AUTH_USER']) {
    const s = v[u] as string | undefined;
    if (s && !/^[a-z_][a-z0-9_]{0,62}$/.test(s)) errors.push(`${u}: must be a plain lower-case identifier`);
  }
  if (v.PGSWARM_SIGNING_KEY && !v.PGSWARM_VERIFY_KEY) errors.push('PGSWARM_VERIFY_KEY: required when PGSWARM_SIGNING_KEY is set');
  const mode = v.PGSWARM_SYNC_MODE as SyncMode | undefined;
  const witness = parseWitness(v.PGSWARM_WITNESS as string | undefined, members, errors);
  if (isWitness) {
    self = undefined;
    errors.push(...witnessRoleErrors(name, v.PGSWARM_WITNESS as string | undefined, witness, members, origin));
    if (witness && v.PGSWARM_SETUP_PORT === witness.port) errors.push('PGSWARM_SETUP_PORT: must differ from this witness\'s public port');
    if (witness && name === witness.name && !errors.length) self = witness;
  }
  if (!isWitness && mode && mode !== 'async' && members.length) {
    if (members.length < 2) errors.push(`PGSWARM_SYNC_MODE: ${mode} needs at least two data nodes in PGSWARM_PEERS (a commit must wait for a standby)`);
    else if (members.length === 2 && !v.PGSWARM_WITNESS) errors.push(`PGSWARM_SYNC_MODE: ${mode} with two data nodes needs a witness (PGSWARM_WITNESS): without one, neither node can tell a dead peer from a partition, so a failover could lose acknowledged commits or leave two primaries`);
  }
  if (!isWitness && mode !== 'degrade' && origin.PGSWARM_DEGRADE_AFTER_MS && origin.PGSWARM_DEGRADE_AFTER_MS !== 'default') errors.push(`PGSWARM_DEGRADE_AFTER_MS: only meaningful with PGSWARM_SYNC_MODE=degrade (it is ${mode ?? 'unset'}); remove it or choose degrade`);
  if (mode === 'degrade' && (v.PGSWARM_DEGRADE_AFTER_MS as number) <= 0) errors.push('PGSWARM_DEGRADE_AFTER_MS: must be above 0 (degrading at once is async mode: say PGSWARM_SYNC_MODE=async)');
  const fenceAfter = v.PGSWARM_FENCE_AFTER_MS as number | undefined;
  const ct = v.PGSWARM_CONNECT_TIMEOUT_SECS as number | undefined;
  if (!isWitness && fenceAfter !== undefined && fenceAfter > 0 && ct !== undefined && fenceAfter < 2 * ct * 1000) errors.push(`PGSWARM_FENCE_AFTER_MS: ${fenceAfter} ms is shorter than two probe rounds (2 x PGSWARM_CONNECT_TIMEOUT_SECS = ${2 * ct * 1000} ms): one slow round would fence a healthy primary`);
  const lease = v.PGSWARM_DETACH_LEASE_MS as number | undefined;
  if (!isWitness && lease !== undefined && ct !== undefined && lease < 3 * ct * 1000) errors.push(`PGSWARM_DETACH_LEASE_MS: ${lease} ms is shorter than three probe rounds (3 x PGSWARM_CONNECT_TIMEOUT_SECS = ${3 * ct * 1000} ms): a detached standby could re-attach to the old primary while the candidate that detached it is still promoting`);
  if ((v.PGSWARM_SYNC_INTERVAL_MS as number) < 100) errors.push('PGSWARM_SYNC_INTERVAL_MS: must be at least 100');
  for (const n of (v.PGSWARM_PROXY_CERT_NAMES as string[] | undefined) ?? []) {
    if (members.some((m) => m.name === n) || (witness && witness.name === n)) errors.push(`PGSWARM_PROXY_CERT_NAMES: "${n}" is a node's name (a proxy's certificate must never pass for a node)`);
    else if (!/^[A-Za-z0-9.:-]{1,253}$/.test(n)) errors.push(`PGSWARM_PROXY_CERT_NAMES: "${n}" is not a host name or IP address (no wildcards)`);
  }
  if (v.PGSWARM_REGISTRY_ROW_TTL_MS !== undefined && v.PGSWARM_KEY_SYNC_INTERVAL_MS !== undefined) {
    for (const e of rowTtlErrors(v.PGSWARM_REGISTRY_ROW_TTL_MS as number, v.PGSWARM_KEY_SYNC_INTERVAL_MS as number)) errors.push(`PGSWARM_REGISTRY_ROW_TTL_MS: ${e}`);
  }
  if (errors.length || !self) return { errors };
  const home = v.PGSWARM_HOME as string;
  const pgBinDir = (v.PGSWARM_PG_BINDIR as string | undefined) ?? '';
  return {
    errors,
    config: {
      role,
      nodeName: self.name,
      nodeId: id!,
      self,
      members,
      proxies,
      bootstrapNode: boot ?? '',
      listenAddresses: v.PGSWARM_LISTEN_ADDRESSES as string,
      setupPort: v.PGSWARM_SETUP_PORT as number,
      home,
      pgdata: (v.PGDATA as string | undefined) ?? `${home}/data`,
      pgBinDir,
      repmgrBin: (v.PGSWARM_REPMGR_BIN as string | undefined) ?? (pgBinDir ? `${pgBinDir}/repmgr` : ''),
      runUser: v.PGSWARM_RUN_USER as string,
      superuser: v.POSTGRES_USER as string,
      superuserPassword: v.POSTGRES_PASSWORD as string,
      database: v.POSTGRES_DB as string,
      initdbArgs: v.POSTGRES_INITDB_ARGS as string,
      initdbScriptsDir: v.PGSWARM_INITDB_SCRIPTS as string,
      replUser: v.PGSWARM_REPMGR_USER as string,
      replPassword: v.PGSWARM_REPMGR_PASSWORD as string,
      statsUser: v.PGSWARM_STATS_USER as string,
      statsPassword: (v.PGSWARM_STATS_PASSWORD as string | undefined) ?? '',
      caCertFile: v.PGSWARM_CA_CERT_FILE as string,
      caKeyFile: v.PGSWARM_CA_KEY_FILE as string,
      monitorIntervalSecs: v.PGSWARM_MONITOR_INTERVAL_SECS as number,
      reconnectAttempts: v.PGSWARM_RECONNECT_ATTEMPTS as number,
      reconnectIntervalSecs: v.PGSWARM_RECONNECT_INTERVAL_SECS as number,
      connectTimeoutSecs: v.PGSWARM_CONNECT_TIMEOUT_SECS as number,
      startupTimeoutMs: v.PGSWARM_STARTUP_TIMEOUT_MS as number,
      waitRetryMs: v.PGSWARM_WAIT_RETRY_MS as number,
      signingKey: v.PGSWARM_SIGNING_KEY as string | undefined,
      verifyKey: v.PGSWARM_VERIFY_KEY as string | undefined,
      sshdBin: v.PGSWARM_SSHD_BIN as string,
      sshUser: v.PGSWARM_SSH_USER as string,
      answerUser: v.PGSWARM_ANSWER_USER as string,
      enrollPassword: v.PGSWARM_ENROLL_PASSWORD as string | undefined,
      proxyCertNames: (v.PGSWARM_PROXY_CERT_NAMES as string[] | undefined) ?? [],
      keySyncIntervalMs: v.PGSWARM_KEY_SYNC_INTERVAL_MS as number,
      registryRowTtlMs: v.PGSWARM_REGISTRY_ROW_TTL_MS as number,
      authUser: v.PGSWARM_AUTH_USER as string,
      authPassword: v.PGSWARM_AUTH_PASSWORD as string | undefined,
      logLevel: v.PGSWARM_LOG_LEVEL as string,
      syncMode: isWitness ? 'async' : mode ?? 'async',
      degradeAfterMs: v.PGSWARM_DEGRADE_AFTER_MS as number,
      fenceAfterMs: isWitness ? 0 : fenceAfter ?? 0,
      detachLeaseMs: v.PGSWARM_DETACH_LEASE_MS as number,
      syncIntervalMs: v.PGSWARM_SYNC_INTERVAL_MS as number,
      witness,
    },
  };
}

/** PGSWARM_WITNESS: well-formed, and neither named like nor at the address (pg or ssh port) of a data node. */
export function parseWitness(raw: string | undefined, members: readonly Member[], errors: string[]): Member | undefined {
  if (!raw) return undefined;
  const w = parseMember(raw);
  const before = errors.length;
  if (typeof w === 'string') {
    errors.push(`PGSWARM_WITNESS: ${w}`);
    return undefined;
  }
  if (members.some((m) => m.name === w.name)) errors.push(`PGSWARM_WITNESS: ${w.name} is also a data node in PGSWARM_PEERS; a witness holds no data and must have its own name`);
  else if (members.some((m) => m.host === w.host && m.port === w.port)) errors.push(`PGSWARM_WITNESS: ${w.host}:${w.port} is the address of a data node`);
  else if (members.some((m) => m.host === w.host && m.sshPort === w.sshPort)) errors.push(`PGSWARM_WITNESS: ssh port ${w.host}:${w.sshPort} is a data node's ssh address; give the witness its own host or ssh port`);
  return errors.length === before ? w : undefined;
}

/** A witness (PGSWARM_ROLE=witness): its own entry is PGSWARM_WITNESS, it refereees at least two data nodes, and takes no data-node setting. */
function witnessRoleErrors(name: string | undefined, raw: string | undefined, w: Member | undefined, members: readonly Member[], origin: Record<string, string>): string[] {
  const errors: string[] = [];
  if (!raw) errors.push('PGSWARM_WITNESS: required with PGSWARM_ROLE=witness (this witness\'s own name@host:port[:sshport], the same value the data nodes and proxies are given)');
  else if (w && name && w.name !== name) errors.push(`PGSWARM_WITNESS: names ${w.name}, but this witness is PGSWARM_NODE_NAME=${name}; they must be the same`);
  if (name && members.some((m) => m.name === name)) errors.push(`PGSWARM_PEERS: ${name} is listed as a data node, but PGSWARM_ROLE=witness (a witness holds no data; list only the data nodes)`);
  if (members.length > 0 && members.length < 2) errors.push(`PGSWARM_PEERS: a witness referees between at least two data nodes; ${members.length} given`);
  const given = DATA_ONLY_SETTINGS.filter((k) => origin[k] && origin[k] !== 'default' && origin[k] !== 'none');
  if (given.length) errors.push(`PGSWARM_ROLE=witness: ${given.join(', ')} ${given.length === 1 ? 'is a data-node setting' : 'are data-node settings'}; a witness holds no data, runs no synchronous replication and is never a primary: remove ${given.length === 1 ? 'it' : 'them'}`);
  return errors;
}

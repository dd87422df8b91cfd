/**
 * Pure description of a cluster's secrets: which Docker secret holds what,
 * which local file keeps the operator's copy, and which services receive it.
 * compose/stack.yml refers to the same names (<stack>_<key>).
 */
export type SecretKey =
  | 'signing_key'
  | 'ca_key'
  | 'ca_crt'
  | 'postgres_password'
  | 'repmgr_password'
  | 'stats_password'
  | 'auth_password'
  | 'enroll_password'
  | 'proxy1_token'
  | 'proxy2_token';

export interface SecretSpec {
  key: SecretKey;
  /** File in the local cluster directory (mode 0600). */
  file: string;
  /** Who gets it, for docs and status. */
  usedBy: string;
  /** Public material (a certificate): still shipped as a secret, but printable. */
  public?: boolean;
  what: string;
  /** A random password: when missing everywhere, `init` may add it to an existing cluster (its role is new). */
  password?: boolean;
}

export const SECRET_SPECS: readonly SecretSpec[] = [
  { key: 'signing_key', file: 'signing.key', usedBy: 'pgnode', what: 'cluster ed25519 signing key (signs registry rows and join tokens)' },
  { key: 'ca_key', file: 'ca.key', usedBy: 'pgnode', what: 'cluster CA private key (each node issues its own TLS certificate and signs the proxies\' CSRs; never given to a proxy)' },
  { key: 'ca_crt', file: 'ca.crt', usedBy: 'pgnode, pgproxy, clients', public: true, what: 'cluster CA certificate' },
  { key: 'postgres_password', file: 'postgres.password', usedBy: 'pgnode', what: 'database superuser password', password: true },
  { key: 'repmgr_password', file: 'repmgr.password', usedBy: 'pgnode', what: 'replication/repmgr role password', password: true },
  { key: 'stats_password', file: 'stats.password', usedBy: 'pgnode, pgproxy', what: 'PgBouncer stats-only console user password', password: true },
  { key: 'auth_password', file: 'auth.password', usedBy: 'pgnode, pgproxy', what: 'PgBouncer auth_query role password', password: true },
  { key: 'enroll_password', file: 'enroll.password', usedBy: 'pgnode, pgproxy', what: 'password of the low-privilege role proxies enroll their SSH key through', password: true },
  { key: 'proxy1_token', file: 'proxy1.token', usedBy: 'pgproxy1', what: 'join token of proxy pgproxy1' },
  { key: 'proxy2_token', file: 'proxy2.token', usedBy: 'pgproxy2', what: 'join token of proxy pgproxy2' },
];

/** The public verify key is kept next to the secrets and passed to services as PGSWARM_VERIFY_KEY. */
export const VERIFY_KEY_FILE = 'verify.key';
/** Ids of the join tokens this directory minted: {id, name, exp, revoked?}. */
export const TOKENS_FILE = 'tokens.json';

export const STACK_LABEL = 'com.pgswarm.stack';
export const KEY_LABEL = 'com.pgswarm.secret';

export function secretName(stack: string, key: SecretKey): string {
  return `${stack}_${key}`;
}

/** The proxies of the default stack and the host ports they publish. */
export const DEFAULT_PROXIES: readonly { service: string; name: string; token: SecretKey; port: number }[] = [
  { service: 'pgproxy1', name: 'pgproxy1', token: 'proxy1_token', port: 5432 },
  { service: 'pgproxy2', name: 'pgproxy2', token: 'proxy2_token', port: 5433 },
];

export const DEFAULT_NODES: readonly string[] = ['pgnode1', 'pgnode2', 'pgnode3'];

/**
 * What `init` must do, given what exists: a cluster exists when either the
 * local signing key or any of the stack's Docker secrets exists.
 */
export function initPlan(input: { localFiles: readonly string[]; dockerSecrets: readonly string[]; stack: string; force: boolean; stackRunning: boolean }): { action: 'create' | 'recreate' | 'refuse' | 'complete'; reason: string; missing: SecretKey[] } {
  const names = SECRET_SPECS.map((s) => secretName(input.stack, s.key));
  const presentDocker = names.filter((n) => input.dockerSecrets.includes(n));
  const presentLocal = SECRET_SPECS.filter((s) => input.localFiles.includes(s.file)).map((s) => s.key);
  const exists = presentDocker.length > 0 || input.localFiles.includes('signing.key');
  const missing = SECRET_SPECS.filter((s) => !input.dockerSecrets.includes(secretName(input.stack, s.key))).map((s) => s.key);
  if (!exists) return { action: 'create', reason: 'no cluster secrets yet', missing };
  if (input.force) {
    if (input.stackRunning) return { action: 'refuse', reason: `stack ${input.stack} is running: remove it first (pgswarm down) before replacing its secrets`, missing };
    return { action: 'recreate', reason: '--force: replacing the existing cluster\'s secrets', missing };
  }
  // Same cluster, some Docker secrets missing (e.g. a new swarm) but the local copy complete: restore them.
  const addable = (k: SecretKey) => presentLocal.includes(k) || SECRET_SPECS.find((s) => s.key === k)?.password === true;
  if (missing.length && missing.every(addable) && input.localFiles.includes('signing.key')) {
    const fresh = missing.filter((k) => !presentLocal.includes(k));
    return { action: 'complete', reason: `restoring ${missing.length - fresh.length} missing Docker secret(s) from the local copy${fresh.length ? `, adding new ${fresh.join(', ')}` : ''}`, missing };
  }
  if (missing.length === 0) return { action: 'refuse', reason: `cluster ${input.stack} already has its secrets; use --force to replace them (this makes existing data unreachable with the old passwords)`, missing };
  return { action: 'refuse', reason: `cluster ${input.stack} exists but ${missing.join(', ')} are missing and not in the local directory; use --force to start over`, missing };
}

/** postgresql:// URI for clients, TLS verified against the cluster CA. */
export function connectionString(o: { host: string; port: number; user: string; database: string; caFile: string; password?: string }): string {
  const auth = o.password !== undefined ? `${encodeURIComponent(o.user)}:${encodeURIComponent(o.password)}` : encodeURIComponent(o.user);
  return `postgresql://${auth}@${o.host}:${o.port}/${encodeURIComponent(o.database)}?sslmode=verify-full&sslrootcert=${encodeURIComponent(o.caFile)}`;
}

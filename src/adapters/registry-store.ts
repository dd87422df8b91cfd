import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RegistryRow } from '../core/registry-row';
import { scramVerifier } from '../core/scram';
import type { EnrollmentRequest, RegistryStore } from '../ports/ssh-identity';

/**
 * The `pgswarm` schema: the signed public-key registry, proxy enrollment
 * requests, revoked token ids and token uses. Node agents (superuser or the
 * repmgr role) read and write it; proxies use a separate low-privilege role
 * that can only call pgswarm.enroll() and pgswarm.enrollment_status().
 */
export interface SchemaOptions {
  /** Login role for proxies' enrollment requests. */
  enrollRole?: string;
  /** Its password (from a secret). Sent only as a SCRAM verifier computed here. Omit to leave the role without a password (cannot log in with one). */
  enrollPassword?: string;
  /** Non-superuser roles that run node agents and must read/write the registry (e.g. repmgr). */
  agentRoles?: string[];
  /** Most pending enrollment requests accepted at once (flood limit). */
  maxPending?: number;
}

const ROLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const KEY_LINE_RE = "^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}( [A-Za-z0-9@._:+=-]{1,128})?$";
/**
 * Refuses private key material in key columns. Written with bracket classes so
 * the schema text (and so every dump and statement log) does not itself contain
 * the markers that leak scanners search for.
 */
const PRIVATE_RE = 'PRIVATE[ ]KEY|BEGIN[ ]OPENSSH|b3BlbnNzaC1rZXkt[d]jE';

export function registrySchemaSql(opts: SchemaOptions = {}): string[] {
  const role = opts.enrollRole ?? 'pgswarm_enroll';
  const agents = opts.agentRoles ?? [];
  const maxPending = opts.maxPending ?? 100;
  for (const r of [role, ...agents]) if (!ROLE_RE.test(r)) throw new Error(`registrySchemaSql: bad role name ${JSON.stringify(r)}`);
  if (!Number.isInteger(maxPending) || maxPending < 1) throw new Error('registrySchemaSql: bad maxPending');
  const stmts: string[] = [
    'CREATE SCHEMA IF NOT EXISTS pgswarm',
    'REVOKE ALL ON SCHEMA pgswarm FROM PUBLIC',
    `CREATE TABLE IF NOT EXISTS pgswarm.registry (
      kind text NOT NULL,
      name text NOT NULL,
      fingerprint text NOT NULL,
      public_key text NOT NULL CHECK (public_key !~ '${PRIVATE_RE}' AND length(public_key) <= 16384),
      host text,
      port integer,
      aliases text[],
      token_id text,
      created_at timestamptz NOT NULL,
      expires_at timestamptz,
      signed_by text,
      signature text,
      generation integer NOT NULL DEFAULT 0,
      retired boolean NOT NULL DEFAULT false,
      PRIMARY KEY (kind, name, fingerprint)
    )`,
    // Signed generations and tombstones (docs/security.md, "Registry rows: expiry and revocation").
    'ALTER TABLE pgswarm.registry ADD COLUMN IF NOT EXISTS generation integer NOT NULL DEFAULT 0',
    'ALTER TABLE pgswarm.registry ADD COLUMN IF NOT EXISTS retired boolean NOT NULL DEFAULT false',
    `CREATE TABLE IF NOT EXISTS pgswarm.enrollment_requests (
      id bigserial PRIMARY KEY,
      token text,
      token_id text,
      public_key text NOT NULL CHECK (public_key !~ '${PRIVATE_RE}' AND length(public_key) <= 1024),
      requested_at timestamptz NOT NULL DEFAULT now(),
      requested_by text NOT NULL DEFAULT session_user,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'refused')),
      reason text,
      decided_at timestamptz,
      decided_by text
    )`,
    `CREATE TABLE IF NOT EXISTS pgswarm.revoked_tokens (
      token_id text PRIMARY KEY,
      revoked_at timestamptz NOT NULL DEFAULT now(),
      reason text
    )`,
    `CREATE TABLE IF NOT EXISTS pgswarm.token_uses (
      token_id text PRIMARY KEY,
      fingerprint text NOT NULL,
      name text NOT NULL,
      used_at timestamptz NOT NULL DEFAULT now()
    )`,
    // A planned switchover in progress: while this row's deadline is in the future, current-primary
    // reports no primary, so the proxies PAUSE (clients wait) before the old primary is stopped.
    `CREATE TABLE IF NOT EXISTS pgswarm.switchover (
      id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
      target text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      deadline timestamptz NOT NULL
    )`,
    `CREATE OR REPLACE FUNCTION pgswarm.enroll(token text, public_key text) RETURNS bigint
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
      DECLARE
        rid bigint;
        pending bigint;
      BEGIN
        IF $1 IS NULL OR length($1) > 4096 OR $1 !~ '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' THEN
          RAISE EXCEPTION 'malformed join token' USING ERRCODE = '22023';
        END IF;
        IF $2 IS NULL OR length($2) > 1024 OR $2 !~ '${KEY_LINE_RE}' THEN
          RAISE EXCEPTION 'not an OpenSSH public key line' USING ERRCODE = '22023';
        END IF;
        SELECT count(*) INTO pending FROM pgswarm.enrollment_requests r WHERE r.status = 'pending';
        IF pending >= ${maxPending} THEN
          RAISE EXCEPTION 'too many pending enrollment requests' USING ERRCODE = '53400';
        END IF;
        INSERT INTO pgswarm.enrollment_requests (token, public_key) VALUES ($1, $2) RETURNING id INTO rid;
        RETURN rid;
      END
      $fn$`,
    `CREATE OR REPLACE FUNCTION pgswarm.enrollment_status(request_id bigint, public_key text)
      RETURNS TABLE (status text, reason text)
      LANGUAGE sql SECURITY DEFINER STABLE SET search_path = pg_catalog, pg_temp AS $fn$
        SELECT r.status, r.reason FROM pgswarm.enrollment_requests r WHERE r.id = $1 AND r.public_key = $2
      $fn$`,
    // Public, signed host-key rows: a proxy verifies their signatures itself and builds known_hosts from them.
    // (Dropped first: its result columns grew generation and retired, which CREATE OR REPLACE cannot change.)
    `DO $do$ BEGIN
       IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'pgswarm' AND p.proname = 'host_keys'
                     AND NOT ('generation' = ANY (coalesce(p.proargnames, '{}')))) THEN
         DROP FUNCTION pgswarm.host_keys();
       END IF;
     END $do$`,
    `CREATE OR REPLACE FUNCTION pgswarm.host_keys()
      RETURNS TABLE (kind text, name text, fingerprint text, public_key text, host text, port integer, aliases text[], token_id text,
                     created_at timestamptz, expires_at timestamptz, signed_by text, signature text, generation integer, retired boolean)
      LANGUAGE sql SECURITY DEFINER STABLE SET search_path = pg_catalog, pg_temp AS $fn$
        SELECT r.kind, r.name, r.fingerprint, r.public_key, r.host, r.port, r.aliases, r.token_id, r.created_at, r.expires_at, r.signed_by, r.signature,
               r.generation, r.retired
          FROM pgswarm.registry r WHERE r.kind = 'node-host'
      $fn$`,
    // Lets a restarted proxy learn that its key is already enrolled (its token may have expired since).
    // A retired (tombstone) or expired row does not count: the proxy then asks again with its token.
    `CREATE OR REPLACE FUNCTION pgswarm.key_enrolled(public_key text) RETURNS boolean
      LANGUAGE sql SECURITY DEFINER STABLE SET search_path = pg_catalog, pg_temp AS $fn$
        SELECT EXISTS (SELECT 1 FROM pgswarm.registry r WHERE r.kind = 'proxy' AND split_part(r.public_key, ' ', 2) = split_part($1, ' ', 2)
                         AND NOT r.retired AND r.expires_at > now())
      $fn$`,
    `DO $do$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '${role}') THEN
         CREATE ROLE ${role} LOGIN;
       END IF;
     END $do$`,
    `ALTER ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10`,
    `ALTER ROLE ${role} SET statement_timeout = '5s'`,
    'REVOKE ALL ON ALL TABLES IN SCHEMA pgswarm FROM PUBLIC',
    'REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgswarm FROM PUBLIC',
    'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgswarm FROM PUBLIC',
    `REVOKE ALL ON ALL TABLES IN SCHEMA pgswarm FROM ${role}`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgswarm FROM ${role}`,
    `GRANT USAGE ON SCHEMA pgswarm TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enroll(text, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enrollment_status(bigint, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.host_keys() TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.key_enrolled(text) TO ${role}`,
  ];
  if (opts.enrollPassword !== undefined) {
    if (opts.enrollPassword.length < 16) throw new Error('registrySchemaSql: enrollment password must be at least 16 characters');
    stmts.push(`ALTER ROLE ${role} PASSWORD '${scramVerifier(opts.enrollPassword, randomBytes(16))}'`);
  }
  for (const a of agents) {
    stmts.push(`GRANT USAGE ON SCHEMA pgswarm TO ${a}`);
    stmts.push(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgswarm TO ${a}`);
    stmts.push(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pgswarm TO ${a}`);
  }
  return stmts;
}

type Queryable = pg.Pool | pg.Client | pg.PoolClient;

/** Runs the schema statements in one transaction. */
export async function applyRegistrySchema(db: Queryable, opts: SchemaOptions = {}): Promise<void> {
  await withTx(db, async (c) => {
    // Serialise concurrent first starts.
    await c.query("SELECT pg_advisory_xact_lock(hashtext('pgswarm.registry.schema'))");
    for (const s of registrySchemaSql(opts)) await c.query(s);
  });
}

async function withTx<T>(db: Queryable, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  const c: pg.ClientBase = db instanceof pg.Pool ? await db.connect() : (db as pg.ClientBase);
  try {
    await c.query('BEGIN');
    try {
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } finally {
    if (db instanceof pg.Pool) (c as pg.PoolClient).release();
  }
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export class PgRegistryStore implements RegistryStore {
  constructor(private readonly db: Queryable) {}

  async readRows(): Promise<unknown[]> {
    const r = await this.db.query(
      `SELECT kind, name, fingerprint, public_key, host, port, aliases, token_id, created_at, expires_at, signed_by, signature, generation, retired
         FROM pgswarm.registry ORDER BY kind, name, fingerprint`,
    );
    return r.rows.map((x) => ({
      kind: x.kind,
      name: x.name,
      fingerprint: x.fingerprint,
      publicKey: x.public_key,
      host: x.host,
      port: x.port,
      aliases: x.aliases,
      tokenId: x.token_id,
      createdAt: x.created_at instanceof Date ? x.created_at.toISOString() : x.created_at,
      expiresAt: x.expires_at instanceof Date ? iso(x.expires_at) : x.expires_at,
      signedBy: x.signed_by,
      signature: x.signature,
      generation: x.generation,
      retired: x.retired,
    }));
  }

  async revokedTokenIds(): Promise<Set<string>> {
    const r = await this.db.query('SELECT token_id FROM pgswarm.revoked_tokens');
    return new Set(r.rows.map((x) => x.token_id as string));
  }

  async tokenUses(): Promise<Map<string, string>> {
    const r = await this.db.query('SELECT token_id, fingerprint FROM pgswarm.token_uses');
    return new Map(r.rows.map((x) => [x.token_id as string, x.fingerprint as string]));
  }

  async isWritable(): Promise<boolean> {
    const r = await this.db.query('SELECT pg_is_in_recovery() AS rec');
    return r.rows[0].rec === false;
  }

  async insertRow(row: RegistryRow, c: pg.ClientBase | Queryable = this.db): Promise<void> {
    await c.query(
      `INSERT INTO pgswarm.registry (kind, name, fingerprint, public_key, host, port, aliases, token_id, created_at, expires_at, signed_by, signature, generation, retired)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       ON CONFLICT (kind, name, fingerprint) DO UPDATE SET
         public_key = EXCLUDED.public_key, host = EXCLUDED.host, port = EXCLUDED.port, aliases = EXCLUDED.aliases,
         token_id = EXCLUDED.token_id, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
         signed_by = EXCLUDED.signed_by, signature = EXCLUDED.signature, generation = EXCLUDED.generation, retired = EXCLUDED.retired`,
      [row.kind, row.name, row.fingerprint, row.publicKey, row.host ?? null, row.port ?? null, row.aliases ?? null,
        row.tokenId ?? null, row.createdAt, row.expiresAt, row.signedBy, row.signature, row.generation, row.retired === true],
    );
  }

  async publishRow(row: RegistryRow): Promise<void> {
    await withTx(this.db, async (c) => {
      await c.query('DELETE FROM pgswarm.registry WHERE kind = $1 AND name = $2 AND fingerprint <> $3', [row.kind, row.name, row.fingerprint]);
      await this.insertRow(row, c);
    });
  }

  async deleteKey(fingerprint: string): Promise<number> {
    const r = await this.db.query('DELETE FROM pgswarm.registry WHERE fingerprint = $1', [fingerprint]);
    return r.rowCount ?? 0;
  }

  async listPendingEnrollments(): Promise<EnrollmentRequest[]> {
    const r = await this.db.query(
      `SELECT id, token, public_key, requested_at, requested_by FROM pgswarm.enrollment_requests
        WHERE status = 'pending' ORDER BY id LIMIT 100`,
    );
    return r.rows.map((x) => ({
      id: Number(x.id),
      token: x.token ?? '',
      publicKey: x.public_key,
      requestedAt: x.requested_at,
      requestedBy: x.requested_by,
    }));
  }

  async acceptEnrollment(requestId: number, tokenId: string, row: RegistryRow, decidedBy: string): Promise<boolean> {
    return withTx(this.db, async (c) => {
      await c.query('INSERT INTO pgswarm.token_uses (token_id, fingerprint, name) VALUES ($1, $2, $3) ON CONFLICT (token_id) DO NOTHING', [tokenId, row.fingerprint, row.name]);
      const bound = await c.query('SELECT fingerprint FROM pgswarm.token_uses WHERE token_id = $1 FOR UPDATE', [tokenId]);
      const revoked = await c.query('SELECT 1 FROM pgswarm.revoked_tokens WHERE token_id = $1', [tokenId]);
      if (bound.rows[0]?.fingerprint !== row.fingerprint || revoked.rowCount) {
        await c.query(
          `UPDATE pgswarm.enrollment_requests SET status = 'refused', reason = $2, token = NULL, token_id = $3, decided_at = now(), decided_by = $4 WHERE id = $1`,
          [requestId, revoked.rowCount ? 'revoked' : 'reused', tokenId, decidedBy],
        );
        return false;
      }
      // A new key for the same proxy name replaces the old one.
      await c.query('DELETE FROM pgswarm.registry WHERE kind = $1 AND name = $2 AND fingerprint <> $3', [row.kind, row.name, row.fingerprint]);
      await this.insertRow(row, c);
      await c.query(
        `UPDATE pgswarm.enrollment_requests SET status = 'accepted', reason = NULL, token = NULL, token_id = $2, decided_at = now(), decided_by = $3 WHERE id = $1`,
        [requestId, tokenId, decidedBy],
      );
      return true;
    });
  }

  async refuseEnrollment(requestId: number, tokenId: string | null, reason: string, decidedBy: string): Promise<void> {
    await this.db.query(
      `UPDATE pgswarm.enrollment_requests SET status = 'refused', reason = $2, token = NULL, token_id = $3, decided_at = now(), decided_by = $4 WHERE id = $1`,
      [requestId, reason.slice(0, 200), tokenId, decidedBy],
    );
  }

  /**
   * Revokes a join token. Returns how many live proxy keys it enrolled. Readers ignore those rows at
   * once (token-revoked); their rows are left in place so that the next key sync with the signing key
   * replaces each with a signed tombstone (a deleted row could later be replayed; a tombstone cannot).
   */
  async revokeToken(tokenId: string, reason = 'revoked by operator'): Promise<number> {
    return withTx(this.db, async (c) => {
      await c.query('INSERT INTO pgswarm.revoked_tokens (token_id, reason) VALUES ($1, $2) ON CONFLICT (token_id) DO NOTHING', [tokenId, reason]);
      const r = await c.query("SELECT count(*)::int AS n FROM pgswarm.registry WHERE kind = 'proxy' AND token_id = $1 AND NOT retired", [tokenId]);
      return r.rows[0].n as number;
    });
  }

  /** Proxy side: submit an enrollment request through the low-privilege role. Returns the request id. */
  static async enroll(db: Queryable, token: string, publicKeyLine: string): Promise<number> {
    const r = await db.query('SELECT pgswarm.enroll($1, $2) AS id', [token, publicKeyLine]);
    return Number(r.rows[0].id);
  }

  /** Proxy side: status of its own request. */
  static async enrollmentStatus(db: Queryable, requestId: number, publicKeyLine: string): Promise<{ status: string; reason: string | null } | null> {
    const r = await db.query('SELECT status, reason FROM pgswarm.enrollment_status($1, $2)', [requestId, publicKeyLine]);
    return r.rows[0] ?? null;
  }
}

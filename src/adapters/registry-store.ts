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
  /** Most rows the request table may hold, whatever their status (nodes purge old decided ones). */
  maxRows?: number;
  /** Most pending requests per join token id (and per key for certificate renewals). */
  maxPendingPerToken?: number;
  /** Id of the cluster verify key (signingKeyId): tokens claiming another issuer are refused before they are stored. */
  signingKeyId?: string;
  /** Enrollment gate key (core/join-token.ts tokenGateKey, 32 bytes): with it, tokens without a valid gate hash are refused before they are stored. Only nodes holding the signing key can derive it. */
  gateKey?: Buffer;
}

/** Size limits of every field the enrollment role can submit (enforced by the functions and by CHECK constraints). */
export const ENROLL_LIMITS = { token: 1024, publicKey: 1024, csr: 4096, proof: 512 } as const;

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
  const maxRows = opts.maxRows ?? 500;
  const perToken = opts.maxPendingPerToken ?? 2;
  for (const r of [role, ...agents]) if (!ROLE_RE.test(r)) throw new Error(`registrySchemaSql: bad role name ${JSON.stringify(r)}`);
  for (const [k, v] of Object.entries({ maxPending, maxRows, perToken })) if (!Number.isInteger(v) || v < 1) throw new Error(`registrySchemaSql: bad ${k}`);
  if (opts.signingKeyId !== undefined && !/^[A-Za-z0-9_+/=:-]{1,128}$/.test(opts.signingKeyId)) throw new Error('registrySchemaSql: bad signingKeyId');
  if (opts.gateKey !== undefined && opts.gateKey.length !== 32) throw new Error('registrySchemaSql: gateKey must be 32 bytes');
  const L = ENROLL_LIMITS;
  // base64url segment -> bytea (errors are caught by the caller's exception block)
  const b64u = (x: string) => `decode(rpad(translate(${x}, '-_', '+/'), ((length(${x}) + 3) / 4) * 4, '='), 'base64')`;
  const limitChecks = `
        IF pending_for >= ${perToken} THEN
          RAISE EXCEPTION 'too many pending requests for this token or key (at most ${perToken})' USING ERRCODE = '53400';
        END IF;
        SELECT count(*) INTO n FROM pgswarm.enrollment_requests r WHERE r.status = 'pending';
        IF n >= ${maxPending} THEN
          RAISE EXCEPTION 'too many pending enrollment requests (at most ${maxPending})' USING ERRCODE = '53400';
        END IF;
        SELECT count(*) INTO n FROM pgswarm.enrollment_requests;
        IF n >= ${maxRows} THEN
          RAISE EXCEPTION 'enrollment request table full (at most ${maxRows} rows)' USING ERRCODE = '53400';
        END IF;`;
  const keyCheck = `
        IF public_key IS NULL OR length(public_key) > ${L.publicKey} OR public_key !~ '${KEY_LINE_RE}' THEN
          RAISE EXCEPTION 'not an OpenSSH public key line (at most ${L.publicKey} characters)' USING ERRCODE = '22023';
        END IF;`;
  const csrCheck = (nullable: boolean) => `
        IF ${nullable ? 'csr IS NOT NULL AND (' : '(csr IS NULL OR '}length(csr) > ${L.csr} OR csr !~ '^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n?$') THEN
          RAISE EXCEPTION 'not a PEM certificate request (at most ${L.csr} characters)' USING ERRCODE = '22023';
        END IF;`;
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
    // Certificate requests travel with enrollments (and renewals, token NULL, proof = SSH-key signature).
    'ALTER TABLE pgswarm.enrollment_requests ADD COLUMN IF NOT EXISTS csr text, ADD COLUMN IF NOT EXISTS proof text, ADD COLUMN IF NOT EXISTS certificate text',
    `DO $do$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conname = 'enrollment_requests_sizes') THEN
         ALTER TABLE pgswarm.enrollment_requests ADD CONSTRAINT enrollment_requests_sizes CHECK (
           length(token) <= ${L.token} AND length(token_id) <= 64 AND length(csr) <= ${L.csr} AND length(proof) <= ${L.proof}
           AND length(certificate) <= 8192 AND length(reason) <= 200 AND length(requested_by) <= 64 AND length(decided_by) <= 64);
       END IF;
     END $do$`,
    'CREATE INDEX IF NOT EXISTS enrollment_requests_status ON pgswarm.enrollment_requests (status, token_id)',
    `CREATE TABLE IF NOT EXISTS pgswarm.enroll_gate (
      id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
      gate_key bytea NOT NULL CHECK (length(gate_key) = 32)
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
    // The only door of the enrollment role. Cheap checks first; nothing is stored unless every
    // size, format, issuer, expiry, revocation and gate check passes and the flood limits allow it.
    `CREATE OR REPLACE FUNCTION pgswarm.enroll(token text, public_key text, csr text) RETURNS bigint
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
      DECLARE
        rid bigint;
        n bigint;
        pending_for bigint;
        parts text[];
        body jsonb;
        gk bytea;
        tid text;
        gate_ok boolean;
      BEGIN
        IF token IS NULL OR length(token) > ${L.token} OR token !~ '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{86}(\\.[A-Za-z0-9_-]{43})?$' THEN
          RAISE EXCEPTION 'malformed join token' USING ERRCODE = '22023';
        END IF;${keyCheck}${csrCheck(true)}
        parts := string_to_array(token, '.');
        BEGIN
          body := convert_from(${b64u('parts[1]')}, 'UTF8')::jsonb;
        EXCEPTION WHEN others THEN
          RAISE EXCEPTION 'malformed join token' USING ERRCODE = '22023';
        END;
        IF jsonb_typeof(body) IS DISTINCT FROM 'object' OR body->>'kind' IS DISTINCT FROM 'proxy'
           OR coalesce(body->>'id', '') !~ '^[A-Za-z0-9_-]{8,64}$' OR jsonb_typeof(body->'exp') IS DISTINCT FROM 'number' THEN
          RAISE EXCEPTION 'malformed join token' USING ERRCODE = '22023';
        END IF;
        tid := body->>'id';
        ${opts.signingKeyId !== undefined ? `IF body->>'iss' IS DISTINCT FROM '${opts.signingKeyId}' THEN
          RAISE EXCEPTION 'join token not issued by this cluster' USING ERRCODE = '28000';
        END IF;` : ''}
        SELECT g.gate_key INTO gk FROM pgswarm.enroll_gate g WHERE g.id = 1;
        IF gk IS NOT NULL THEN
          BEGIN
            gate_ok := parts[3] IS NOT NULL AND ${b64u('parts[3]')} = sha256(gk || sha256(gk || convert_to(parts[1], 'UTF8')));
          EXCEPTION WHEN others THEN
            gate_ok := false;
          END;
          IF NOT gate_ok THEN
            RAISE EXCEPTION 'join token not issued by this cluster' USING ERRCODE = '28000';
          END IF;
        END IF;
        IF (body->>'exp')::numeric <= extract(epoch FROM now()) THEN
          RAISE EXCEPTION 'join token expired' USING ERRCODE = '28000';
        END IF;
        IF EXISTS (SELECT 1 FROM pgswarm.revoked_tokens r WHERE r.token_id = tid) THEN
          RAISE EXCEPTION 'join token revoked' USING ERRCODE = '28000';
        END IF;
        -- one request at a time is counted: concurrent floods cannot overshoot the limits
        PERFORM pg_advisory_xact_lock(hashtext('pgswarm.enroll'));
        SELECT r.id INTO rid FROM pgswarm.enrollment_requests r
         WHERE r.status = 'pending' AND r.token_id = tid AND r.public_key = enroll.public_key AND r.csr IS NOT DISTINCT FROM enroll.csr LIMIT 1;
        IF FOUND THEN
          RETURN rid;  -- the same request again (a retry)
        END IF;
        SELECT count(*) INTO pending_for FROM pgswarm.enrollment_requests r WHERE r.status = 'pending' AND r.token_id = tid;${limitChecks}
        INSERT INTO pgswarm.enrollment_requests (token, token_id, public_key, csr) VALUES (token, tid, public_key, csr) RETURNING id INTO rid;
        RETURN rid;
      END
      $fn$`,
    `CREATE OR REPLACE FUNCTION pgswarm.enroll(token text, public_key text) RETURNS bigint
      LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$ SELECT pgswarm.enroll($1, $2, NULL) $fn$`,
    // A new certificate for an enrolled proxy (its token may have expired): the CSR signed with its SSH key (proof).
    `CREATE OR REPLACE FUNCTION pgswarm.renew_certificate(public_key text, csr text, proof text) RETURNS bigint
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
      DECLARE
        rid bigint;
        n bigint;
        pending_for bigint;
      BEGIN${keyCheck}${csrCheck(false)}
        IF proof IS NULL OR length(proof) > ${L.proof} OR proof !~ '^[A-Za-z0-9+/]+={0,2}$' THEN
          RAISE EXCEPTION 'malformed proof (at most ${L.proof} characters of base64)' USING ERRCODE = '22023';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pgswarm.registry r WHERE r.kind = 'proxy' AND split_part(r.public_key, ' ', 2) = split_part(renew_certificate.public_key, ' ', 2)) THEN
          RAISE EXCEPTION 'key not enrolled' USING ERRCODE = '28000';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtext('pgswarm.enroll'));
        SELECT count(*) INTO pending_for FROM pgswarm.enrollment_requests r WHERE r.status = 'pending' AND r.token IS NULL AND r.public_key = renew_certificate.public_key;${limitChecks}
        INSERT INTO pgswarm.enrollment_requests (public_key, csr, proof) VALUES (public_key, csr, proof) RETURNING id INTO rid;
        RETURN rid;
      END
      $fn$`,
    `CREATE OR REPLACE FUNCTION pgswarm.enrollment_result(request_id bigint, public_key text)
      RETURNS TABLE (status text, reason text, certificate text)
      LANGUAGE sql SECURITY DEFINER STABLE SET search_path = pg_catalog, pg_temp AS $fn$
        SELECT r.status, r.reason, r.certificate FROM pgswarm.enrollment_requests r WHERE r.id = $1 AND r.public_key = $2
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
    // Short sessions: a holder of the password cannot park idle connections on the role's slots.
    `ALTER ROLE ${role} SET statement_timeout = '2s'`,
    `ALTER ROLE ${role} SET idle_session_timeout = '10s'`,
    `ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '2s'`,
    'REVOKE ALL ON ALL TABLES IN SCHEMA pgswarm FROM PUBLIC',
    'REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgswarm FROM PUBLIC',
    'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgswarm FROM PUBLIC',
    `REVOKE ALL ON ALL TABLES IN SCHEMA pgswarm FROM ${role}`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgswarm FROM ${role}`,
    `GRANT USAGE ON SCHEMA pgswarm TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enroll(text, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enroll(text, text, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.renew_certificate(text, text, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enrollment_result(bigint, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.enrollment_status(bigint, text) TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.host_keys() TO ${role}`,
    `GRANT EXECUTE ON FUNCTION pgswarm.key_enrolled(text) TO ${role}`,
  ];
  if (opts.gateKey !== undefined) {
    stmts.push(`INSERT INTO pgswarm.enroll_gate (id, gate_key) VALUES (1, '\\x${opts.gateKey.toString('hex')}'::bytea) ON CONFLICT (id) DO UPDATE SET gate_key = EXCLUDED.gate_key`);
  }
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
      `SELECT id, token, public_key, requested_at, requested_by, csr, proof FROM pgswarm.enrollment_requests
        WHERE status = 'pending' ORDER BY id LIMIT 200`,
    );
    return r.rows.map((x) => ({
      id: Number(x.id),
      token: x.token ?? '',
      publicKey: x.public_key,
      requestedAt: x.requested_at,
      requestedBy: x.requested_by,
      csr: x.csr ?? null,
      proof: x.proof ?? null,
    }));
  }

  async acceptEnrollment(requestId: number, tokenId: string, row: RegistryRow, decidedBy: string, certificate: string | null = null): Promise<boolean> {
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
        `UPDATE pgswarm.enrollment_requests SET status = 'accepted', reason = NULL, token = NULL, csr = NULL, certificate = $4, token_id = $2, decided_at = now(), decided_by = $3 WHERE id = $1`,
        [requestId, tokenId, decidedBy, certificate],
      );
      return true;
    });
  }

  /** A renewal request answered with its certificate. */
  async completeCertificateRequest(requestId: number, certificate: string, decidedBy: string): Promise<void> {
    await this.db.query(
      `UPDATE pgswarm.enrollment_requests SET status = 'accepted', reason = NULL, csr = NULL, proof = NULL, certificate = $2, decided_at = now(), decided_by = $3 WHERE id = $1`,
      [requestId, certificate, decidedBy],
    );
  }

  /**
   * Keeps the request table bounded: deletes refused requests older than `refusedMaxAgeS` or beyond the newest
   * `keepRefused`, pending ones no node decided within `pendingMaxAgeS` (expired), accepted ones older than
   * `acceptedMaxAgeS` (their certificate has been fetched by then). Returns how many of each were deleted.
   */
  async purgeEnrollments(o: { keepRefused?: number; refusedMaxAgeS?: number; pendingMaxAgeS?: number; acceptedMaxAgeS?: number } = {}): Promise<{ refused: number; expired: number; accepted: number }> {
    const r = await this.db.query(
      `WITH refused AS (
         DELETE FROM pgswarm.enrollment_requests WHERE status = 'refused' AND (
           decided_at < now() - make_interval(secs => $2)
           OR id NOT IN (SELECT id FROM pgswarm.enrollment_requests WHERE status = 'refused' ORDER BY id DESC LIMIT $1))
         RETURNING 1),
       expired AS (DELETE FROM pgswarm.enrollment_requests WHERE status = 'pending' AND requested_at < now() - make_interval(secs => $3) RETURNING 1),
       accepted AS (DELETE FROM pgswarm.enrollment_requests WHERE status = 'accepted' AND decided_at < now() - make_interval(secs => $4) RETURNING 1)
       SELECT (SELECT count(*) FROM refused)::int AS refused, (SELECT count(*) FROM expired)::int AS expired, (SELECT count(*) FROM accepted)::int AS accepted`,
      [o.keepRefused ?? 20, o.refusedMaxAgeS ?? 3600, o.pendingMaxAgeS ?? 600, o.acceptedMaxAgeS ?? 7 * 86400],
    );
    return r.rows[0];
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

  /** Proxy side: submit an enrollment request with a certificate request. */
  static async enrollWithCsr(db: Queryable, token: string, publicKeyLine: string, csr: string): Promise<number> {
    const r = await db.query('SELECT pgswarm.enroll($1, $2, $3) AS id', [token, publicKeyLine, csr]);
    return Number(r.rows[0].id);
  }

  /** Proxy side: ask for a new certificate for an enrolled key; `proof` signs the CSR with that key. */
  static async renewCertificate(db: Queryable, publicKeyLine: string, csr: string, proof: string): Promise<number> {
    const r = await db.query('SELECT pgswarm.renew_certificate($1, $2, $3) AS id', [publicKeyLine, csr, proof]);
    return Number(r.rows[0].id);
  }

  /** Proxy side: status of its own request and, once accepted, its certificate. */
  static async enrollmentResult(db: Queryable, requestId: number, publicKeyLine: string): Promise<{ status: string; reason: string | null; certificate: string | null } | null> {
    const r = await db.query('SELECT status, reason, certificate FROM pgswarm.enrollment_result($1, $2)', [requestId, publicKeyLine]);
    return r.rows[0] ?? null;
  }

  /** Proxy side: status of its own request. */
  static async enrollmentStatus(db: Queryable, requestId: number, publicKeyLine: string): Promise<{ status: string; reason: string | null } | null> {
    const r = await db.query('SELECT status, reason FROM pgswarm.enrollment_status($1, $2)', [requestId, publicKeyLine]);
    return r.rows[0] ?? null;
  }
}

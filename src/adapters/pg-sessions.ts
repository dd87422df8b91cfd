/**
 * Long-lived PostgreSQL sessions for the agents' probes (docs/architecture.md, "Probing model").
 *
 * One TLS connection per (host, port, user, database, purpose), opened once and reused: a probe
 * is a query on an open connection with a deadline, not a new TLS handshake + SCRAM exchange +
 * backend fork. On a busy 2-core host one connection per probe kept both cores busy while idle.
 *
 * - A caller's deadline bounds only its own wait. A connect or query that outlives it keeps
 *   going in the background, so a slow (loaded) peer is seen again on the next probe instead
 *   of costing a new handshake every time.
 * - A connection that errors or closes is dropped; the next connect waits a backoff with
 *   jitter (200 ms doubling to 5 s), so a dead peer costs no connect storm. A refusal
 *   (nothing listens, no such name) costs no handshake and is retried after 250 ms: a peer
 *   that comes back must not look down for seconds to a node deciding its role.
 * - A query still unanswered after `stuckMs` (a frozen or cut-off peer: its address hangs
 *   rather than refuses) destroys the connection; so does a queue that keeps growing.
 * - TCP keepalive is on, so the kernel notices a half-open connection on its own.
 * - Sessions unused for `idleMs` are closed.
 */
import { Client } from 'pg';
import { pgClientConfig, closeClient, PgTarget } from './pg-connect';
import { nextBackoff, BackoffPolicy } from '../core/backoff';

export class SessionUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionUnavailable';
  }
}

export class DeadlineExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeadlineExceeded';
  }
}

export interface PgSessionsOptions {
  /** An unanswered query older than this destroys the connection [10000]. */
  stuckMs?: number;
  /** Limit for opening a connection, independent of callers' deadlines [10000]. */
  connectTimeoutMs?: number;
  /** Close sessions nobody used for this long [60000]. */
  idleMs?: number;
  /** More queued queries than this on one session: refuse at once [4]. */
  maxQueued?: number;
  now?: () => number;
  random?: () => number;
}

interface Session {
  key: string;
  client: Client | null;
  connecting: Promise<Client> | null;
  inFlight: { since: number }[];
  /** The un-jittered delay of the last backoff; null after a successful connect. */
  backoffBase: number | null;
  nextAttemptAt: number;
  lastError: string | null;
  lastUsed: number;
}

/** Reconnect delays after failures that cost a handshake: 200 ms doubling to 5 s, with jitter. */
export const SESSION_BACKOFF: BackoffPolicy = { minMs: 200, maxMs: 5000 };

/** Failures that cost no handshake (nothing listens, or no such name): retried soon, without growing backoff. */
const CHEAP_FAILURES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT'];

export function sessionKey(t: PgTarget, purpose = 'probe'): string {
  return `${purpose}:${t.user}@${t.host}:${t.port}/${t.database}`;
}

export class PgSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly o: Required<Omit<PgSessionsOptions, 'now' | 'random'>> & { now: () => number; random: () => number };
  private reaper: NodeJS.Timeout | undefined;
  /** How many connections were opened (for tests and benchmarks). */
  connectsStarted = 0;

  constructor(o: PgSessionsOptions = {}) {
    this.o = {
      stuckMs: o.stuckMs ?? 10000,
      connectTimeoutMs: o.connectTimeoutMs ?? 10000,
      idleMs: o.idleMs ?? 60000,
      maxQueued: o.maxQueued ?? 4,
      now: o.now ?? Date.now,
      random: o.random ?? Math.random,
    };
    this.reaper = setInterval(() => this.reapIdle(), Math.max(1000, Math.floor(this.o.idleMs / 2)));
    this.reaper.unref();
  }

  /** Runs one query on the session for `t`, waiting at most `deadlineMs` (default t.timeoutMs). */
  async query<R = Record<string, unknown>>(t: PgTarget, sql: string, params: unknown[] = [], deadlineMs = t.timeoutMs, purpose = 'probe'): Promise<R[]> {
    const s = this.session(t, purpose);
    s.lastUsed = this.o.now();
    const started = this.o.now();
    const c = await this.withDeadline(this.clientOf(s, t), deadlineMs, () => `connecting to ${t.host}:${t.port}: no connection within ${deadlineMs} ms${s.lastError ? ` (last error: ${s.lastError})` : ''}`);
    const stuck = s.inFlight.find((q) => this.o.now() - q.since > this.o.stuckMs);
    if (stuck || s.inFlight.length >= this.o.maxQueued) {
      this.drop(s, stuck ? `a query was unanswered for over ${this.o.stuckMs} ms` : `${s.inFlight.length} queries queued`);
      throw new SessionUnavailable(`${t.host}:${t.port}: ${s.lastError}`);
    }
    const entry = { since: this.o.now() };
    s.inFlight.push(entry);
    const q = c.query(sql, params).then(
      (r) => r.rows as R[],
      (e: Error) => {
        // A server error (e.g. a relation that does not exist yet) leaves the connection usable.
        if (!(e as { code?: string }).code) this.drop(s, e.message);
        throw e;
      },
    ).finally(() => {
      const i = s.inFlight.indexOf(entry);
      if (i >= 0) s.inFlight.splice(i, 1);
    });
    const left = Math.max(1, deadlineMs - (this.o.now() - started));
    return this.withDeadline(q, left, () => `${t.host}:${t.port}: no answer within ${deadlineMs} ms`);
  }

  /**
   * The open client of a dedicated session (for a sequence of statements, e.g. the key sync's
   * transactions). Use a purpose of its own: another caller's query must not run inside its transaction.
   */
  async client(t: PgTarget, purpose: string, deadlineMs = t.timeoutMs): Promise<Client> {
    const s = this.session(t, purpose);
    s.lastUsed = this.o.now();
    return this.withDeadline(this.clientOf(s, t), deadlineMs, () => `connecting to ${t.host}:${t.port}: no connection within ${deadlineMs} ms${s.lastError ? ` (last error: ${s.lastError})` : ''}`);
  }

  /** Drops the session for `t` (e.g. after a failed transaction); the next use reconnects. */
  reset(t: PgTarget, purpose = 'probe', why = 'reset by its user'): void {
    const s = this.sessions.get(sessionKey(t, purpose));
    if (s) this.drop(s, why);
  }

  /** Number of open connections. */
  get open(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.client) n++;
    return n;
  }

  async closeAll(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => {
      const c = s.client ?? (await s.connecting?.catch(() => null)) ?? null;
      s.client = null;
      await closeClient(c);
    }));
  }

  private session(t: PgTarget, purpose: string): Session {
    const key = sessionKey(t, purpose);
    let s = this.sessions.get(key);
    if (!s) {
      s = { key, client: null, connecting: null, inFlight: [], backoffBase: null, nextAttemptAt: 0, lastError: null, lastUsed: this.o.now() };
      this.sessions.set(key, s);
    }
    return s;
  }

  private clientOf(s: Session, t: PgTarget): Promise<Client> {
    if (s.client) return Promise.resolve(s.client);
    if (s.connecting) return s.connecting;
    const wait = s.nextAttemptAt - this.o.now();
    if (wait > 0) return Promise.reject(new SessionUnavailable(`${t.host}:${t.port}: reconnecting in ${wait} ms (last error: ${s.lastError ?? '?'})`));
    const c = new Client({ ...pgClientConfig({ ...t, timeoutMs: this.o.connectTimeoutMs }), query_timeout: undefined, keepAlive: true, keepAliveInitialDelayMillis: 1000 });
    this.connectsStarted++;
    c.on('error', (e: Error) => { if (s.client === c) this.drop(s, e.message); });
    c.on('end', () => { if (s.client === c) this.drop(s, 'connection closed'); });
    const p = c.connect().then(
      () => {
        if (this.sessions.get(s.key) !== s || s.connecting !== p) {
          void closeClient(c);
          throw new SessionUnavailable('session closed while connecting');
        }
        s.connecting = null;
        s.client = c;
        s.backoffBase = null;
        s.lastError = null;
        return c;
      },
      (e: Error) => {
        if (s.connecting === p) s.connecting = null;
        this.failed(s, e.message, CHEAP_FAILURES.includes((e as { code?: string }).code ?? ''));
        void closeClient(c, 200);
        throw e;
      },
    );
    s.connecting = p;
    p.catch(() => undefined);
    return p;
  }

  private failed(s: Session, why: string, cheap = false): void {
    s.lastError = why;
    if (cheap) {
      s.nextAttemptAt = this.o.now() + 250;
      return;
    }
    const b = nextBackoff(s.backoffBase, false, this.o.random(), SESSION_BACKOFF);
    s.backoffBase = b.base;
    s.nextAttemptAt = this.o.now() + b.delayMs;
  }

  private drop(s: Session, why: string): void {
    const c = s.client;
    s.client = null;
    s.inFlight = [];
    this.failed(s, why);
    void closeClient(c, 200);
  }

  private reapIdle(): void {
    const now = this.o.now();
    for (const [k, s] of this.sessions) {
      if (now - s.lastUsed > this.o.idleMs && s.inFlight.length === 0) {
        this.sessions.delete(k);
        const c = s.client;
        s.client = null;
        void closeClient(c);
      }
    }
  }

  private withDeadline<T>(p: Promise<T>, ms: number, msg: () => string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new DeadlineExceeded(msg())), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

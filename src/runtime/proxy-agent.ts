/**
 * The pgproxy agent: supervises PgBouncer, learns from every node who is
 * primary, votes (core/vote.ts) and makes PgBouncer follow the vote:
 *   primary known  → rewrite [databases] if it changed, RELOAD, RESUME;
 *   no primary     → PAUSE (clients wait, bounded by query_wait_timeout), and
 *                    route to an empty socket directory so that even a lost
 *                    pause can never reach a wrong server.
 * Two ways to learn the answers:
 *   watchNode (production): each node streams its answers (adapters/ssh-follow.ts);
 *     every push is handled at once, so a promotion is routed as soon as the
 *     node says it, with no polling loop at all;
 *   askNode (tests, bench): each node is asked by its own loop every poll
 *     interval, so a node that hangs never delays the answers of the others.
 * The vote runs whenever an answer changes and on every tick, over answers no
 * older than `staleMs` (older ones count as timeouts). The tick only
 * reconciles: when nothing changed it does no I/O (no file write, no admin
 * console command; DNS is re-checked at most every RESOLVE_EVERY_MS).
 * The state file and the one-line health file are written only when their
 * content changes. Every change of answer or decision is logged with its reason.
 */
import fs from 'node:fs';
import { promises as dns } from 'node:dns';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/log';
import type { Member } from '../core/node-config';
import type { ProxyConfig } from '../core/proxy-config';
import type { AskResult } from '../core/node-answer';
import { vote, VoteResult } from '../core/vote';
import { witnessDisagreements, describeDisagreements } from '../core/witness-check';
import { renderAuthFile, renderPgbouncerIni, PgbouncerIniInput } from '../core/render-pgbouncer';
import { scramVerifier } from '../core/scram';
import type { Bouncer } from '../ports/bouncer';
import { BouncerAdmin, BouncerAdminOptions } from '../adapters/bouncer-admin';
import { Supervisor } from './supervisor';
import { lookupUser } from '../adapters/os-users';
import { writeFileExclusive, ensureOwnedDir, ensureRootDir } from '../adapters/atomic-file';
import { proxyHealth, healthLine, HEALTH_FILE } from '../core/proxy-health';

export type AskNode = (m: Member) => Promise<AskResult>;
/** Follows one node: calls push with every answer (or failure) until the returned function is called. */
export type WatchNode = (m: Member, push: (r: AskResult) => void) => () => void;

/** Written only when its content changes (`changedAt` moves only then). */
export interface ProxyState {
  pid: number;
  /** When the content below last changed (ms since the epoch). */
  changedAt: number;
  running: boolean;
  primary: string | null;
  route: { host: string; port: number } | null;
  paused: boolean | null;
  bouncerPid: number | null;
  bouncerOk: boolean;
  listenPort: number;
  socketDir: string;
  vote: { rule: string; reason: string } | null;
}

export interface ProxyAgentOptions {
  config: ProxyConfig;
  /** Polling: ask each node every poll interval (one of askNode / watchNode is required). */
  askNode?: AskNode;
  /** Streaming: each node pushes its answers; no per-node polling loop runs. Takes precedence over askNode. */
  watchNode?: WatchNode;
  logger: Logger;
  /** Answers older than this count as timeouts [default: sshTimeoutMs + 2 × poll interval]. */
  staleMs?: number;
  /** How long the first round may take before PgBouncer starts anyway [default: sshTimeoutMs + 500]. */
  firstRoundMs?: number;
  /** Test seam: wraps the admin console client (e.g. to count commands) [default: BouncerAdmin]. */
  bouncer?: (o: BouncerAdminOptions) => Bouncer;
}

export const STATE_FILE = 'state.json';
/** How often an unchanged route's host name is resolved again (Swarm may give a restarted task a new address). */
export const RESOLVE_EVERY_MS = 10_000;

export function proxyPaths(home: string, healthDir = path.join(home, 'health.d')) {
  return {
    healthDir,
    health: path.join(healthDir, HEALTH_FILE),
    ini: path.join(home, 'pgbouncer.ini'),
    authFile: path.join(home, 'userlist.txt'),
    socketDir: path.join(home, 'run'),
    noRouteDir: path.join(home, 'no-primary'),
    tlsDir: path.join(home, 'tls'),
    state: path.join(home, STATE_FILE),
  };
}

interface Seen { r: AskResult; at: number; sig: string }

function signature(r: AskResult): string {
  if (r.kind !== 'ok') return r.kind;
  const a = r.answer;
  return `ok:${a.primary}:${a.role}:${a.timeline}:${a.upstream}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ProxyAgent {
  private readonly c: ProxyConfig;
  private readonly log: Logger;
  private readonly paths: ReturnType<typeof proxyPaths>;
  private readonly sup: Supervisor;
  private bouncer!: Bouncer;
  private readonly seen = new Map<string, Seen>();
  private running = false;
  private loops: Promise<void>[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private decided: VoteResult | null = null;
  private applying = false;
  private dirty = false;
  /** What PgBouncer is known to do: undefined = unknown (e.g. just restarted). */
  private applied: { primary: string | null; paused: boolean; bouncerPid: number; host?: string } | undefined;
  private iniInput!: Omit<PgbouncerIniInput, 'route'>;
  private ids: { uid: number; gid: number } | undefined;
  private lastState = '';
  private lastHealth = '';
  private witnessDisagreement = '';
  private unwatch: (() => void)[] = [];
  /** A kick caused by a changed answer or decision (not a plain tick): re-resolve the route's address. */
  private changed = true;
  private lastResolveAt = 0;

  constructor(private readonly o: ProxyAgentOptions) {
    if (!o.askNode && !o.watchNode) throw new Error('ProxyAgent needs askNode or watchNode');
    this.c = o.config;
    this.log = o.logger;
    this.paths = proxyPaths(o.config.home, o.config.healthDir);
    this.sup = new Supervisor(o.logger);
  }

  private get staleMs(): number {
    return this.o.staleMs ?? this.c.sshTimeoutMs + 2 * this.c.pollIntervalMs;
  }

  /** Everyone asked each round: the data members, then the witness (counted in the vote, never routed to). */
  private get voters(): Member[] {
    return this.c.witness ? [...this.c.members, this.c.witness] : this.c.members;
  }

  /** Prepares files, runs a first round, starts PgBouncer and the loops. */
  async start(): Promise<void> {
    this.running = true;
    this.prepareHealthDir();
    await this.prepareFiles();
    const watch = this.o.watchNode;
    if (watch) for (const m of this.voters) this.unwatch.push(watch(m, (r) => this.onResult(m, r)));
    else for (const m of this.voters) this.loops.push(this.memberLoop(m));
    // first round: give every node one chance so PgBouncer starts with a route if there is one
    const deadline = Date.now() + (this.o.firstRoundMs ?? this.c.sshTimeoutMs + 500);
    while (Date.now() < deadline && this.seen.size < this.voters.length) await sleep(25);
    this.decide();
    this.writeIni(this.decided?.primary ?? null);
    this.sup.start({ name: 'pgbouncer', cmd: this.c.pgbouncerBin, args: [this.paths.ini], user: this.ids ? this.c.runUser : undefined, restart: 'always', stopSignal: 'SIGTERM', stopTimeoutMs: 5000 });
    this.tickTimer = setInterval(() => this.tick(), this.c.pollIntervalMs);
    this.tick();
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const u of this.unwatch.splice(0)) u();
    this.log.info({ event: 'proxy-stop', signal }, `stopping (${signal})`);
    if (signal === 'SIGINT') this.sup.signal('pgbouncer', 'SIGINT');
    await this.sup.shutdown(['pgbouncer']);
    await Promise.race([Promise.all(this.loops), sleep(this.c.sshTimeoutMs + 500)]);
    this.writeState(false);
  }

  /** The certificate files were replaced (renewal): PgBouncer re-reads them on RELOAD. */
  async reloadTls(): Promise<void> {
    await this.bouncer.reload();
    this.log.info({ event: 'tls-reloaded' }, 'PgBouncer reloaded the renewed client-facing certificate');
  }

  currentDecision(): VoteResult | null {
    return this.decided;
  }

  private async prepareFiles(): Promise<void> {
    const home = this.c.home;
    this.ids = process.getuid?.() === 0 ? lookupUser(this.c.runUser) : undefined;
    // The home is root's (0755): PgBouncer's user owns only its socket dir and the no-route dir in it,
    // so it can neither replace nor redirect what the agent writes (ini, auth file, state, TLS, SSH key).
    fs.mkdirSync(home, { recursive: true, mode: 0o755 });
    if (this.ids) {
      fs.chownSync(home, 0, 0);
      fs.chmodSync(home, 0o755);
    }
    for (const d of [this.paths.socketDir, this.paths.noRouteDir]) {
      if (this.ids) ensureOwnedDir(d, this.ids, 0o700);
      else fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    // Given by the operator, or issued by a data node from this proxy's CSR at enrollment (adapters/proxy-enroll.ts):
    // the proxy never holds the CA key.
    const certFile = this.c.tlsCertFile;
    const keyFile = this.c.tlsKeyFile;
    if (!certFile || !keyFile) throw new Error('no client-facing TLS certificate: set PGSWARM_PROXY_TLS_CERT_FILE/KEY_FILE or enroll with a join token (a node issues one)');
    const adminPassword = this.c.adminPassword ?? randomBytes(24).toString('base64url');
    if (!this.c.adminPassword) this.log.info({ event: 'admin-password' }, 'no PGSWARM_PROXY_ADMIN_PASSWORD: made a random one for this run (kept in memory; auth_file holds its SCRAM verifier)');
    this.writeOwned(this.paths.authFile, renderAuthFile([
      // PgBouncer logs in to the servers as auth_user by itself, so it needs this one in clear.
      { user: this.c.authUser, secret: this.c.authPassword },
      { user: this.c.adminUser, secret: scramVerifier(adminPassword, randomBytes(16)) },
      { user: this.c.statsUser, secret: scramVerifier(this.c.statsPassword, randomBytes(16)) },
    ]));
    this.iniInput = {
      listenAddr: this.c.listenAddr,
      listenPort: this.c.listenPort,
      unixSocketDir: this.paths.socketDir,
      noRouteDir: this.paths.noRouteDir,
      databases: this.c.databases,
      authFile: this.paths.authFile,
      authUser: this.c.authUser,
      adminUser: this.c.adminUser,
      statsUser: this.c.statsUser,
      clientTlsCertFile: certFile,
      clientTlsKeyFile: keyFile,
      serverTlsCaFile: this.c.caCertFile,
      poolMode: this.c.poolMode,
      defaultPoolSize: this.c.defaultPoolSize,
      maxClientConn: this.c.maxClientConn,
      maxDbConnections: this.c.maxDbConnections,
      queryWaitTimeoutSecs: this.c.queryWaitTimeoutSecs,
      serverConnectTimeoutSecs: Math.max(1, Math.ceil(this.c.sshTimeoutMs / 1000)),
      serverLoginRetrySecs: 1,
      logConnections: false,
    };
    this.bouncer = (this.o.bouncer ?? ((x) => new BouncerAdmin(x)))({ host: this.paths.socketDir, port: this.c.listenPort, user: this.c.adminUser, password: adminPassword, timeoutMs: 2000 });
  }

  private writeOwned(file: string, content: string): void {
    writeFileExclusive(file, content, 0o600, this.ids);
  }

  /**
   * The health file's directory: owned by the agent's user (root in the image), 0755, so PgBouncer's
   * user can neither replace the file nor the directory.
   */
  private prepareHealthDir(): void {
    const d = this.paths.healthDir;
    fs.mkdirSync(path.dirname(d), { recursive: true, mode: 0o755 });
    ensureRootDir(d);
    const uid = process.getuid?.();
    const parent = fs.statSync(path.dirname(d));
    if (uid === 0 && (parent.uid !== 0 || (parent.mode & 0o022) !== 0)) {
      this.log.warn({ event: 'health-dir-parent', dir: d }, `${path.dirname(d)} is not root-owned and closed to others: another user could replace ${d} (use a directory under /run)`);
    }
    // a file left by an earlier run must not vouch for this one
    this.lastHealth = healthLine({ ok: false, reason: 'the agent is starting' });
    writeFileExclusive(this.paths.health, this.lastHealth, 0o644);
  }

  /** Last resolved address per member: PgBouncer is given addresses, not names (its DNS cache kept a restarted task's old address in the swarm). */
  private resolved = new Map<string, string>();

  private async resolve(name: string | null): Promise<void> {
    const m = name ? this.c.members.find((x) => x.name === name) : undefined;
    if (!m) return;
    try {
      const a = await Promise.race([
        dns.lookup(m.host),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('dns timeout')), 1000)),
      ]);
      if (this.resolved.get(m.name) !== a.address) this.log.info({ event: 'resolved', member: m.name, host: m.host, address: a.address }, `${m.name} is at ${a.address}`);
      this.resolved.set(m.name, a.address);
    } catch (e) {
      this.log.debug({ event: 'resolve-failed', member: m.name, err: (e as Error).message }, 'cannot resolve');
    }
  }

  private routeOf(primary: string | null): { host: string; port: number } | null {
    const m = primary ? this.c.members.find((x) => x.name === primary) : undefined;
    return m ? { host: this.resolved.get(m.name) ?? m.host, port: m.port } : null;
  }

  /** Writes pgbouncer.ini when its content differs; returns whether it changed. */
  private writeIni(primary: string | null): boolean {
    const content = renderPgbouncerIni({ ...this.iniInput, route: this.routeOf(primary) });
    let old = '';
    try { old = fs.readFileSync(this.paths.ini, 'utf8'); } catch { /* first write */ }
    if (old === content) return false;
    this.writeOwned(this.paths.ini, content);
    return true;
  }

  private async memberLoop(m: Member): Promise<void> {
    const ask = this.o.askNode!;
    while (this.running) {
      const started = Date.now();
      let r: AskResult;
      try {
        let t: NodeJS.Timeout | undefined;
        r = await Promise.race([
          ask(m),
          new Promise<AskResult>((res) => { t = setTimeout(() => res({ kind: 'timeout', detail: `no answer within ${this.c.sshTimeoutMs} ms` }), this.c.sshTimeoutMs + 250); }),
        ]);
        if (t) clearTimeout(t);
      } catch (e) {
        r = { kind: 'error', detail: (e as Error).message };
      }
      if (!this.running) return;
      this.onResult(m, r);
      await sleep(Math.max(0, this.c.pollIntervalMs - (Date.now() - started)));
    }
  }

  /** One answer (or failure) of one node, polled or pushed: remembered with a fresh timestamp; a change is logged, voted on and applied at once. */
  private onResult(m: Member, r: AskResult): void {
    if (!this.running) return;
    const sig = signature(r);
    const prev = this.seen.get(m.name);
    this.seen.set(m.name, { r, at: Date.now(), sig });
    if (!prev || prev.sig !== sig) {
      const detail = r.kind === 'ok' ? { primary: r.answer.primary, role: r.answer.role, timeline: r.answer.timeline, upstream: r.answer.upstream, reason: r.answer.reason } : { detail: r.detail };
      const level = r.kind === 'ok' ? 'info' : 'warn';
      this.log[level]({ event: 'node-answer', node: m.name, kind: r.kind, ...detail }, r.kind === 'ok' ? `${m.name} answers: primary=${r.answer.primary ?? 'none'}, role=${r.answer.role}` : `${m.name} ignored in the vote: ${r.kind}${'detail' in r && r.detail ? ` (${r.detail})` : ''}`);
      this.changed = true;
      this.decideSoon();
    }
  }

  private decideScheduled = false;

  /**
   * Votes and applies right after the current I/O phase (setImmediate: no timer, no delay), so answers
   * that arrived together (several nodes' streams read in the same turn) are voted on together and a
   * half-seen promotion does not PAUSE PgBouncer for nothing.
   */
  private decideSoon(): void {
    if (this.decideScheduled) return;
    this.decideScheduled = true;
    setImmediate(() => {
      this.decideScheduled = false;
      if (!this.running) return;
      this.decide();
      this.kick();
    });
  }

  private decide(): void {
    const now = Date.now();
    const answers: Record<string, AskResult> = {};
    for (const m of this.voters) {
      const s = this.seen.get(m.name);
      if (s) answers[m.name] = now - s.at > this.staleMs ? { kind: 'timeout', detail: `last answer ${now - s.at} ms old` } : s.r;
    }
    const v = vote(this.c.members.map((m) => m.name), answers, this.c.witness ? [this.c.witness.name] : []);
    const mine = this.c.witness?.name ?? null;
    const dis = witnessDisagreements(mine, answers);
    const disSig = dis.map((d) => `${d.node}=${d.theirs}`).join(',');
    if (disSig !== this.witnessDisagreement) {
      this.witnessDisagreement = disSig;
      if (dis.length) this.log.error({ event: 'witness-mismatch', configured: mine, nodes: dis }, describeDisagreements(mine, dis));
      else this.log.info({ event: 'witness-agreed', configured: mine }, `every answering node counts the same witness as this proxy (${mine ?? 'none'})`);
    }
    const prev = this.decided;
    this.decided = v;
    if (!prev || prev.primary !== v.primary || prev.rule !== v.rule || prev.conflicts.join() !== v.conflicts.join()) {
      this.changed = true;
      const fields = { event: 'vote', primary: v.primary, previous: prev ? prev.primary : undefined, rule: v.rule, reason: v.reason, tally: v.tally, ignored: v.ignored, conflicts: v.conflicts };
      if (v.conflicts.length) this.log.warn({ ...fields, event: 'split-brain' }, `several nodes claim primary (${[v.primary, ...v.conflicts].filter(Boolean).join(', ')}): ${v.reason}`);
      else this.log.info(fields, v.primary ? `primary is ${v.primary}: ${v.reason}` : `no primary: ${v.reason}`);
    }
  }

  private tick(): void {
    if (!this.running) return;
    this.decide();
    const pid = this.sup.pid('pgbouncer') ?? -1;
    if (this.applied && this.applied.bouncerPid !== pid) {
      this.log.warn({ event: 'bouncer-restarted', pid }, 'PgBouncer restarted: re-applying the route and pause state');
      this.applied = undefined;
    }
    this.kick();
  }

  /** Serialises reconciliation; a request during one run triggers another run. */
  private kick(): void {
    if (!this.running) return;
    if (this.applying) { this.dirty = true; return; }
    this.applying = true;
    void (async () => {
      try {
        do {
          this.dirty = false;
          await this.reconcile();
        } while (this.dirty && this.running);
      } finally {
        this.applying = false;
      }
    })();
  }

  private async reconcile(): Promise<void> {
    const want = this.decided?.primary ?? null;
    const pid = this.sup.pid('pgbouncer');
    if (pid === undefined) { this.writeState(false); return; }
    let a = this.applied;
    const upToDate = !!a && a.bouncerPid === pid && a.primary === want && a.paused === (want === null);
    // A tick with nothing changed: no I/O at all, except a DNS check of the route every RESOLVE_EVERY_MS.
    const resolveNow = !upToDate || this.changed || Date.now() - this.lastResolveAt >= RESOLVE_EVERY_MS;
    this.changed = false;
    if (!upToDate && !fs.existsSync(path.join(this.paths.socketDir, `.s.PGSQL.${this.c.listenPort}`))) {
      this.applied = undefined;
      this.writeState(false);
      return; // PgBouncer is still starting; the next tick applies the decision
    }
    if (resolveNow && want !== null) {
      this.lastResolveAt = Date.now();
      await this.resolve(want);
      a = this.applied; // may have changed while resolving
    }
    const addrChanged = want !== null && a?.primary === want && a.host !== this.routeOf(want)?.host;
    if (a && a.bouncerPid === pid && a.primary === want && a.paused === (want === null) && !addrChanged) {
      this.writeState(true);
      return;
    }
    const reason = this.decided?.reason ?? 'first start';
    try {
      if (want !== null) {
        const changed = this.writeIni(want);
        if (changed || !a) {
          await this.bouncer.reload();
          if (changed) this.log.info({ event: 'repoint', primary: want, route: this.routeOf(want), reason }, `PgBouncer now routes to ${want}`);
        }
        if (!a || a.paused) {
          const r = await this.bouncer.resume();
          if (r === 'resumed') this.log.info({ event: 'resume', primary: want }, `resumed: clients go to ${want}`);
        }
        this.applied = { primary: want, paused: false, bouncerPid: pid, host: this.routeOf(want)?.host };
      } else {
        if (!a || !a.paused) {
          const r = await this.bouncer.pause(1000);
          this.log.warn({ event: 'pause', state: r, reason }, `paused: no primary, clients wait (at most ${this.c.queryWaitTimeoutSecs} s): ${reason}`);
        }
        if (this.writeIni(null) || !a) {
          await this.bouncer.reload();
          this.log.info({ event: 'unroute', reason }, 'route removed while there is no primary');
        }
        this.applied = { primary: null, paused: true, bouncerPid: pid, host: undefined };
      }
      this.writeState(true);
    } catch (e) {
      this.applied = undefined;
      this.log.warn({ event: 'bouncer-admin-failed', err: (e as Error).message, want }, `cannot apply the decision to PgBouncer yet: ${(e as Error).message}`);
      this.writeState(false);
    }
  }

  /** Writes the state file and the health file, each only when its content changed. */
  private writeState(bouncerOk: boolean): void {
    const s: Omit<ProxyState, 'changedAt'> = {
      pid: process.pid,
      running: this.running,
      primary: this.applied?.primary ?? null,
      route: this.routeOf(this.applied?.primary ?? null),
      paused: this.applied ? this.applied.paused : null,
      bouncerPid: this.sup.pid('pgbouncer') ?? null,
      bouncerOk,
      listenPort: this.c.listenPort,
      socketDir: this.paths.socketDir,
      vote: this.decided ? { rule: this.decided.rule, reason: this.decided.reason } : null,
    };
    const key = JSON.stringify(s);
    if (key !== this.lastState) {
      try {
        writeFileExclusive(this.paths.state, JSON.stringify({ ...s, changedAt: Date.now() }) + '\n', 0o644);
        this.lastState = key;
      } catch (e) {
        this.log.warn({ event: 'state-file-failed', err: (e as Error).message }, 'cannot write the state file');
      }
    }
    const v = proxyHealth({ running: this.running, primary: s.primary, paused: s.paused, bouncerOk });
    const line = healthLine(v);
    if (line !== this.lastHealth) {
      try {
        writeFileExclusive(this.paths.health, line, 0o644);
        this.lastHealth = line;
        this.log[v.ok ? 'info' : 'warn']({ event: 'health', ok: v.ok, reason: v.reason }, `${v.ok ? 'healthy' : 'unhealthy'}: ${v.reason}`);
      } catch (e) {
        this.log.warn({ event: 'health-file-failed', err: (e as Error).message }, 'cannot write the health file');
      }
    }
  }
}

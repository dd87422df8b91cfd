/**
 * The streaming `watchNode`: one ssh2 connection per node running
 * `current-primary --follow` on one long-lived channel (core/answer-stream.ts
 * has the protocol). Every ANSWER and every HEARTBEAT is pushed as
 * {kind:'ok'} with the latest answer, so the agent's staleness logic keeps
 * working; the node costs one sshd session per proxy instead of one
 * connection-plus-processes per ask.
 *
 * Host keys are checked on every (re)connect by ssh-exec's verifier against
 * known_hosts read again each time; the host name is handed to ssh2 each time
 * so DNS is resolved again (Swarm gives a restarted task a new address).
 * A session ends on garbage, silence (core/silence.ts: our own starvation is
 * not the node's silence), channel close or connection error; the follower
 * reports why and reconnects with backoff and jitter (reset after a session
 * that delivered an answer).
 *
 * An older node whose forced command ignores `--follow` prints one answer and
 * exits 0/3: that answer is used and the command is run again on the same
 * connection after `legacyPollMs` (today's polling, without flapping).
 */
import type { Client, ClientChannel } from 'ssh2';
import type { Member } from '../core/node-config';
import type { KnownHostEntry } from '../core/host-verifier';
import type { AskResult, NodeAnswer } from '../core/node-answer';
import type { Logger } from '../core/log';
import { AnswerStreamParser } from '../core/answer-stream';
import { silenceVerdict } from '../core/silence';
import { BackoffPolicy, DEFAULT_BACKOFF, nextBackoff } from '../core/backoff';
import { connect, HostKeyRejected, SshTimeout } from './ssh-exec';

export const FOLLOW_COMMAND = 'current-primary --follow';

export interface SshFollowOptions {
  user: string;
  /** The proxy's private key contents (never logged). */
  privateKey: Buffer | string;
  /** Current known_hosts entries (from the registry); read on every (re)connect. */
  knownHosts: () => readonly KnownHostEntry[];
  /** TCP connect + SSH handshake limit, ms. */
  connectTimeoutMs: number;
  /** No line for this long (first line included) = the node is silent [3500]. */
  heartbeatTimeoutMs?: number;
  /** Reconnect delays [250 ms doubling to 5 s], each × a random factor in [0.5, 1.5). */
  backoff?: BackoffPolicy;
  /** Pause between one-shot runs for a node that does not stream [1000]. */
  legacyPollMs?: number;
  /** A check timer later than this = our own process was starved [500]. */
  lateToleranceMs?: number;
  /** Test seam [Math.random]. */
  random?: () => number;
  /** Command sent; the node's forced command streams only for exactly FOLLOW_COMMAND. */
  command?: string;
  /** Debug/warn notes (connects, overload extensions); answers are reported through push. */
  logger?: Logger;
}

type SessionEnd = { result: AskResult | null; delivered: boolean; legacy: boolean };

class Watch {
  private stopped = false;
  private client: Client | null = null;
  private channel: ClientChannel | null = null;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private backoffBase: number | null = null;
  private endSession: ((e: SessionEnd) => void) | null = null;

  constructor(private readonly o: SshFollowOptions, private readonly m: Member, private readonly push: (r: AskResult) => void) {}

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    this.endSession?.({ result: null, delivered: false, legacy: false });
    this.teardown();
    this.wake?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private teardown(): void {
    const ch = this.channel;
    const c = this.client;
    this.channel = null;
    this.client = null;
    try { ch?.destroy(); } catch { /* already gone */ }
    try { c?.destroy(); } catch { /* already gone */ }
  }

  private report(r: AskResult): void {
    if (!this.stopped) this.push(r);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = null; resolve(); };
    });
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      let end: SessionEnd;
      try {
        const c = await connect({ host: this.m.host, port: this.m.sshPort, user: this.o.user, privateKey: this.o.privateKey, knownHosts: this.o.knownHosts(), connectTimeoutMs: this.o.connectTimeoutMs });
        if (this.stopped) { c.destroy(); return; }
        this.client = c;
        this.o.logger?.debug({ event: 'follow-connected', node: this.m.name }, `following ${this.m.name}`);
        end = await this.session(c);
        while (end.legacy && !this.stopped && this.client === c) {
          await this.sleep(this.o.legacyPollMs ?? 1000);
          if (this.stopped || this.client !== c) break;
          end = await this.session(c);
        }
      } catch (e) {
        end = { result: mapError(e), delivered: false, legacy: false };
      }
      this.teardown();
      if (this.stopped) return;
      if (end.result) this.report(end.result);
      const b = nextBackoff(this.backoffBase, end.delivered, (this.o.random ?? Math.random)(), this.o.backoff ?? DEFAULT_BACKOFF);
      this.backoffBase = b.base;
      await this.sleep(b.delayMs);
    }
  }

  /** One exec channel on a connected client; resolves when it ends, with what to report. */
  private session(c: Client): Promise<SessionEnd> {
    return new Promise<SessionEnd>((resolve) => {
      const parser = new AnswerStreamParser(this.m.name);
      const deadline = this.o.heartbeatTimeoutMs ?? 3500;
      const tolerance = this.o.lateToleranceMs ?? 500;
      let delivered = false;
      let answers = 0;
      let heartbeats = 0;
      let exitCode: number | null = null;
      let lastLineAt = Date.now();
      let starved = 0;
      let settled = false;
      const finish = (e: SessionEnd) => {
        if (settled) return;
        settled = true;
        this.clearTimer();
        this.endSession = null;
        c.removeListener('close', onConnGone);
        c.removeListener('error', onConnError);
        resolve({ ...e, delivered: e.delivered || delivered });
      };
      this.endSession = finish;
      const drop = (r: AskResult) => {
        finish({ result: r, delivered, legacy: false });
        this.teardown(); // the session is over: the node sees the connection close
      };
      const onConnGone = () => drop({ kind: 'error', detail: 'SSH connection closed' });
      const onConnError = (err: Error) => drop({ kind: 'error', detail: `SSH connection error: ${err.message}` });
      c.on('close', onConnGone);
      c.on('error', onConnError);

      const arm = (at: number) => {
        this.clearTimer();
        const scheduled = Math.max(at, Date.now() + 20);
        this.timer = setTimeout(() => check(scheduled), scheduled - Date.now());
      };
      const check = (scheduled: number) => {
        this.timer = null;
        if (settled) return;
        const now = Date.now();
        const v = silenceVerdict({ msSinceLastLine: now - lastLineAt, deadlineMs: deadline, checkLateMs: now - scheduled, starvedMs: starved, lateToleranceMs: tolerance });
        starved = v.starvedMs;
        if (v.verdict === 'ok') arm(lastLineAt + deadline);
        else if (v.verdict === 'overloaded') {
          this.o.logger?.warn({ event: 'follow-overloaded', node: this.m.name, reason: v.reason }, `${this.m.name}: not declared silent: ${v.reason}`);
          // re-check after pending socket data was read (timers run before I/O in Node.js)
          arm(Math.min(lastLineAt + v.effectiveDeadlineMs, now + 100));
        } else drop({ kind: 'timeout', detail: v.reason });
      };
      arm(lastLineAt + deadline);

      c.exec(this.o.command ?? FOLLOW_COMMAND, (err, ch) => {
        if (settled) { ch?.destroy(); return; }
        if (err) { drop({ kind: 'error', detail: `exec refused: ${err.message}` }); return; }
        this.channel = ch;
        ch.on('data', (d: Buffer) => {
          if (settled) return;
          const events = parser.feed(d);
          for (const ev of events) {
            lastLineAt = Date.now();
            starved = 0;
            if (ev.kind === 'garbage') { drop({ kind: 'garbage', detail: ev.detail }); return; }
            if (ev.kind === 'answer') answers++;
            else heartbeats++;
            delivered = true;
            this.report({ kind: 'ok', answer: ev.answer });
          }
          // a partial line still counts as life only once it completes
        });
        ch.stderr.on('data', () => undefined);
        ch.on('exit', (code: number | null) => { exitCode = code; });
        ch.on('close', () => {
          if (settled) return;
          const a: NodeAnswer | null = parser.answer;
          if (answers === 1 && heartbeats === 0 && a && exitCode === (a.primary ? 0 : 3)) {
            finish({ result: null, delivered: true, legacy: true }); // a one-shot node: keep the connection, ask again later
            return;
          }
          const mismatch = answers === 1 && heartbeats === 0 && a && exitCode !== null ? `, exit code does not match the answer (primary=${a.primary ?? 'none'})` : '';
          drop({ kind: 'error', detail: `stream ended (exit ${exitCode ?? 'unknown'}, after ${answers} answer(s) and ${heartbeats} heartbeat(s)${mismatch})` });
        });
      });
    });
  }
}

function mapError(e: unknown): AskResult {
  if (e instanceof HostKeyRejected) return { kind: 'host-key-rejected', detail: e.message };
  if (e instanceof SshTimeout) return { kind: 'timeout', detail: e.message };
  return { kind: 'error', detail: (e as Error).message };
}

export class SshFollower {
  private readonly watches = new Set<Watch>();

  constructor(private readonly o: SshFollowOptions) {}

  /** Follows one node until the returned function is called; never throws, every outcome goes to push. */
  watch(m: Member, push: (r: AskResult) => void): () => void {
    const w = new Watch(this.o, m, push);
    this.watches.add(w);
    void w.run().catch((e) => push({ kind: 'error', detail: `follower failed: ${(e as Error).message}` }));
    return () => {
      w.stop();
      this.watches.delete(w);
    };
  }

  close(): void {
    for (const w of this.watches) w.stop();
    this.watches.clear();
  }
}

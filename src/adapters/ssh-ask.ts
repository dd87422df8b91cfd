/**
 * The real `askNode`: runs `current-primary` on a node over SSH with the
 * proxy's restricted key. One persistent ssh2 connection per node (opened on
 * first use, dropped on any error or timeout, then reopened: the host name is
 * handed to ssh2 each time so DNS is resolved again, as Swarm gives a
 * restarted task a new address). Host keys are checked on every connection
 * by ssh-exec's verifier against known_hosts built from the signed registry;
 * an unknown key is refused and reported as 'host-key-rejected'.
 */
import type { Client } from 'ssh2';
import type { Member } from '../core/node-config';
import type { KnownHostEntry } from '../core/host-verifier';
import { AskResult, parseNodeAnswer } from '../core/node-answer';
import { connect, execOn, HostKeyRejected, SshTimeout } from './ssh-exec';

export interface SshAskOptions {
  user: string;
  /** The proxy's private key contents (read from its own volume; never logged). */
  privateKey: Buffer | string;
  /** Current known_hosts entries (from the registry); read on every (re)connect. */
  knownHosts: () => readonly KnownHostEntry[];
  /** Per-connect and per-call limit, ms. */
  timeoutMs: number;
  /** Ignored by the forced command, sent for clarity. */
  command?: string;
}

export class SshAsker {
  private readonly conns = new Map<string, Promise<Client>>();

  constructor(private readonly o: SshAskOptions) {}

  private client(m: Member): Promise<Client> {
    const key = `${m.name}@${m.host}:${m.sshPort}`;
    let p = this.conns.get(key);
    if (!p) {
      p = connect({ host: m.host, port: m.sshPort, user: this.o.user, privateKey: this.o.privateKey, knownHosts: this.o.knownHosts(), connectTimeoutMs: this.o.timeoutMs });
      this.conns.set(key, p);
      p.then(
        (c) => {
          const drop = () => { if (this.conns.get(key) === p) this.conns.delete(key); };
          c.on('close', drop);
          c.on('error', drop);
        },
        () => { if (this.conns.get(key) === p) this.conns.delete(key); },
      );
    }
    return p;
  }

  private drop(m: Member): void {
    const key = `${m.name}@${m.host}:${m.sshPort}`;
    const p = this.conns.get(key);
    this.conns.delete(key);
    p?.then((c) => c.end(), () => undefined);
  }

  /** Never throws: every failure is mapped to the vote's vocabulary. */
  async ask(m: Member): Promise<AskResult> {
    try {
      const c = await this.client(m);
      const r = await execOn(c, this.o.command ?? 'current-primary', this.o.timeoutMs);
      return parseNodeAnswer(m.name, r.stdout, r.code);
    } catch (e) {
      this.drop(m);
      if (e instanceof HostKeyRejected) return { kind: 'host-key-rejected', detail: e.message };
      if (e instanceof SshTimeout) return { kind: 'timeout', detail: e.message };
      return { kind: 'error', detail: (e as Error).message };
    }
  }

  close(): void {
    for (const p of this.conns.values()) p.then((c) => c.end(), () => undefined);
    this.conns.clear();
  }
}

/**
 * Serves this node's current-primary answer to the forced command's relay (core/answer-relay.ts)
 * over a UNIX socket in a directory only root can write (docs/architecture.md, "Probing model").
 * Nothing is written to disk per answer: the answer lives in the agent's memory and is pushed to
 * every connected relay — the whole answer when it changed, `HEARTBEAT` otherwise. A stuck answer
 * loop publishes nothing, so the relays go silent and the proxies count this node as timed out.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../core/log';
import { HEARTBEAT_LINE } from '../core/answer-relay';
import { ensureRootDir } from '../adapters/atomic-file';

/** Relays connected at once beyond this are refused (each holds a file descriptor). */
export const MAX_RELAYS = 64;
/** A relay that does not read (its output buffer grows past this) is dropped. */
const MAX_BUFFERED = 256 * 1024;

export { ensureRootDir } from '../adapters/atomic-file';

export class AnswerServer {
  private server: net.Server | null = null;
  private readonly relays = new Set<net.Socket>();
  private last: string | null = null;

  /** `group`: the answer account's group, the only one (besides root) that may connect. */
  constructor(private readonly socketPath: string, private readonly log: Logger, private readonly group?: number) {}

  async start(): Promise<void> {
    ensureRootDir(path.dirname(this.socketPath));
    fs.rmSync(this.socketPath, { force: true });
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    // Root and the answer account's relays connect (0660): the PostgreSQL OS user can neither replace
    // the socket (root-owned directory) nor hold its connection slots. Without a group (tests): 0666.
    if (this.group !== undefined) {
      fs.chownSync(this.socketPath, 0, this.group);
      fs.chmodSync(this.socketPath, 0o660);
    } else fs.chmodSync(this.socketPath, 0o666);
    this.server = server;
  }

  /** One answer round finished: push the answer if it changed, else a heartbeat. */
  publish(answer: string): void {
    const changed = answer !== this.last;
    this.last = answer;
    const out = changed ? answer : `${HEARTBEAT_LINE}\n`;
    for (const s of this.relays) this.send(s, out);
  }

  get connected(): number {
    return this.relays.size;
  }

  async close(): Promise<void> {
    for (const s of this.relays) s.destroy();
    this.relays.clear();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
    fs.rmSync(this.socketPath, { force: true });
  }

  private accept(s: net.Socket): void {
    if (this.relays.size >= MAX_RELAYS) {
      this.log.warn({ event: 'answer-relay-refused', connected: this.relays.size }, `refused an answer relay: ${MAX_RELAYS} already connected`);
      s.destroy();
      return;
    }
    this.relays.add(s);
    s.on('close', () => this.relays.delete(s));
    s.on('error', () => s.destroy());
    // Relays send nothing; whatever arrives is discarded.
    s.on('data', () => undefined);
    if (this.last !== null) this.send(s, this.last);
  }

  private send(s: net.Socket, text: string): void {
    if (s.writableLength > MAX_BUFFERED) {
      s.destroy();
      return;
    }
    s.write(text);
  }
}

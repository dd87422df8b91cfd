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

/** Relays connected at once beyond this are refused (each holds a file descriptor). */
export const MAX_RELAYS = 64;
/** A relay that does not read (its output buffer grows past this) is dropped. */
const MAX_BUFFERED = 256 * 1024;

/**
 * Makes `dir` a directory owned by this process's user (root in the images), mode 0755, that is not a symlink. Whatever else sits at
 * that path (planted by a less-privileged user of a parent directory) is moved aside first.
 */
export function ensureRootDir(dir: string): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(dir);
  } catch {
    st = null;
  }
  if (st && (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o022) !== 0)) {
    fs.renameSync(dir, `${dir}.untrusted-${Date.now()}`);
    st = null;
  }
  if (!st) fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
}

export class AnswerServer {
  private server: net.Server | null = null;
  private readonly relays = new Set<net.Socket>();
  private last: string | null = null;

  constructor(private readonly socketPath: string, private readonly log: Logger) {}

  async start(): Promise<void> {
    ensureRootDir(path.dirname(this.socketPath));
    fs.rmSync(this.socketPath, { force: true });
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    // Anyone on the node may read the answer (it is what the proxies hear); nobody but root can replace the socket.
    fs.chmodSync(this.socketPath, 0o666);
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

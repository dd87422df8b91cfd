import type { Client } from 'pg';
import { closeClient } from '../../src/adapters/pg-connect';

/**
 * Writes uniquely numbered rows through a client factory, one at a time every
 * `everyMs`, and records every acknowledged id with its time. A failed or
 * unacknowledged write is not counted; the connection is re-opened after an error.
 */
export class AckWriter {
  acked: { id: number; at: number; startedAt: number }[] = [];
  errors: { at: number; message: string }[] = [];
  private next: number;
  private stopped = false;
  private done?: Promise<void>;

  constructor(private readonly connect: () => Client, private readonly table = 'acks', private readonly everyMs = 50, firstId = 1) {
    this.next = firstId;
  }

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let c: Client | null = null;
    while (!this.stopped) {
      const id = this.next++;
      const startedAt = Date.now();
      try {
        if (!c) {
          c = this.connect();
          await c.connect();
        }
        await c.query(`INSERT INTO ${this.table} (id) VALUES ($1)`, [id]);
        this.acked.push({ id, at: Date.now(), startedAt });
      } catch (e) {
        this.errors.push({ at: Date.now(), message: (e as Error).message });
        const old = c;
        c = null;
        await closeClient(old);
      }
      await new Promise((r) => setTimeout(r, this.everyMs));
    }
    await closeClient(c);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Time of the first acknowledgement of a write that was sent strictly after `t` (so a write in flight at `t` does not count). */
  firstAckAfter(t: number): number | null {
    const a = this.acked.find((x) => x.startedAt > t);
    return a ? a.at : null;
  }
}

/**
 * Pure incremental parser of a node's `current-primary --follow` stream.
 *
 * Protocol (lines separated by "\n"; a trailing "\r" is tolerated):
 *   ANSWER    = `PRIMARY: <name|none>` then one JSON line: exactly the
 *               one-shot two-line contract, checked by parseNodeAnswer.
 *   HEARTBEAT = the node completed another answer round and its answer is
 *               unchanged since the last ANSWER of this stream.
 * Anything else (an unknown or empty line, a JSON line without a PRIMARY line
 * before it, a HEARTBEAT before any answer, a line over 64 KiB, an answer that
 * fails parseNodeAnswer) is garbage: the parser reports it once and then
 * ignores everything (the caller drops the session).
 */
import { NodeAnswer, parseNodeAnswer } from './node-answer';

export type StreamEvent =
  | { kind: 'answer'; answer: NodeAnswer }
  | { kind: 'heartbeat'; answer: NodeAnswer }
  | { kind: 'garbage'; detail: string };

export const MAX_LINE_BYTES = 65536;

export class AnswerStreamParser {
  private pending: Buffer = Buffer.alloc(0);
  private primaryLine: string | null = null;
  private latest: NodeAnswer | null = null;
  private broken = false;

  constructor(private readonly asked: string, private readonly maxLineBytes = MAX_LINE_BYTES) {}

  /** The last valid answer of this stream (null before the first one). */
  get answer(): NodeAnswer | null {
    return this.latest;
  }

  /** True once garbage was seen: nothing more is parsed. */
  get failed(): boolean {
    return this.broken;
  }

  /** Feeds a chunk (split anywhere, even inside a UTF-8 character); returns the complete events it finished. */
  feed(chunk: Buffer | string): StreamEvent[] {
    if (this.broken) return [];
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    const out: StreamEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = this.pending.indexOf(10, start);
      if (nl < 0) break;
      if (nl - start > this.maxLineBytes) return this.fail(out, `line longer than ${this.maxLineBytes} bytes`);
      let line = this.pending.toString('utf8', start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      const ev = this.line(line);
      if (ev) {
        out.push(ev);
        if (ev.kind === 'garbage') return this.fail(out);
      }
    }
    this.pending = start === 0 ? this.pending : this.pending.subarray(start);
    if (this.pending.length > this.maxLineBytes) return this.fail(out, `line longer than ${this.maxLineBytes} bytes`);
    // keep our own copy so a large chunk is not pinned by a small unfinished tail
    if (start !== 0 && this.pending.length) this.pending = Buffer.from(this.pending);
    return out;
  }

  private fail(out: StreamEvent[], detail?: string): StreamEvent[] {
    this.broken = true;
    this.pending = Buffer.alloc(0);
    if (detail !== undefined) out.push({ kind: 'garbage', detail });
    return out;
  }

  private line(line: string): StreamEvent | null {
    const show = JSON.stringify(line.slice(0, 80));
    if (this.primaryLine !== null) {
      const first = this.primaryLine;
      this.primaryLine = null;
      if (!line.startsWith('{')) return { kind: 'garbage', detail: `expected the JSON line after ${JSON.stringify(first)}, got ${show}` };
      const r = parseNodeAnswer(this.asked, `${first}\n${line}\n`, null);
      if (r.kind !== 'ok') return { kind: 'garbage', detail: 'detail' in r && r.detail ? r.detail : r.kind };
      this.latest = r.answer;
      return { kind: 'answer', answer: r.answer };
    }
    if (line.startsWith('PRIMARY:')) {
      this.primaryLine = line;
      return null;
    }
    if (line === 'HEARTBEAT') {
      if (!this.latest) return { kind: 'garbage', detail: 'HEARTBEAT before any answer' };
      return { kind: 'heartbeat', answer: this.latest };
    }
    if (line.startsWith('{')) return { kind: 'garbage', detail: 'JSON line without a PRIMARY line before it' };
    return { kind: 'garbage', detail: `unexpected line ${show}` };
  }
}

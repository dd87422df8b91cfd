/**
 * Pure: split brain as seen by the clients. Every acknowledged write carries
 * the server and timeline that accepted it; each (server, timeline) pair has a
 * window from its first to its last acknowledged write (server clock). Two
 * windows that overlap mean two primaries acknowledged writes at the same time.
 */
import type { Ack } from './ack-check';

export interface WriteWindow {
  key: string;
  from: number;
  to: number;
  count: number;
}

export interface Overlap {
  a: string;
  b: string;
  from: number;
  to: number;
  ms: number;
}

export const windowKey = (a: Pick<Ack, 'srv' | 'tl'>) => `${a.srv}/tl${a.tl}`;

export function writeWindows(acks: Ack[]): WriteWindow[] {
  const m = new Map<string, WriteWindow>();
  for (const a of acks) {
    const k = windowKey(a);
    const w = m.get(k);
    if (!w) m.set(k, { key: k, from: a.serverAt, to: a.serverAt, count: 1 });
    else {
      w.from = Math.min(w.from, a.serverAt);
      w.to = Math.max(w.to, a.serverAt);
      w.count++;
    }
  }
  return [...m.values()].sort((x, y) => x.from - y.from || x.key.localeCompare(y.key));
}

/** Every pair of windows that share a moment (touching ends count: same millisecond on two primaries). */
export function overlappingWindows(ws: WriteWindow[]): Overlap[] {
  const out: Overlap[] = [];
  for (let i = 0; i < ws.length; i++) {
    for (let j = i + 1; j < ws.length; j++) {
      const from = Math.max(ws[i].from, ws[j].from);
      const to = Math.min(ws[i].to, ws[j].to);
      if (from <= to) out.push({ a: ws[i].key, b: ws[j].key, from, to, ms: to - from });
    }
  }
  return out;
}

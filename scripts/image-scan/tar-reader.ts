/**
 * Pure: a streaming reader of tar archives (ustar, GNU long names, PAX
 * headers), fed chunk by chunk, so a layer of hundreds of megabytes is never
 * held in memory. Every malformation is an error (bad checksum, truncated
 * archive, data after the end marker): a scan must never pass because it
 * stopped reading early.
 */

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'directory' | 'other';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  size: number;
  linkName: string;
}

export interface TarSink {
  /** A new entry; its data (files only) follows through data(), then endEntry(). */
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  endEntry(): void;
}

const BLOCK = 512;

function cString(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z === -1 ? s : s.subarray(0, z)).toString('utf8');
}

function numeric(b: Buffer, start: number, len: number, what: string): number {
  const f = b.subarray(start, start + len);
  if (f[0] & 0x80) {
    // GNU base-256: big-endian, first byte's top bit is the marker
    let n = f[0] & 0x7f;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i];
    return n;
  }
  const s = cString(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`tar: bad ${what} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = numeric(h, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === stored;
}

/** PAX records "LEN key=value\n". */
export function parsePax(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number(b.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > b.length) throw new Error('tar: malformed PAX header');
    const rec = b.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

type State =
  | { kind: 'header' }
  | { kind: 'data'; remaining: number; padding: number; meta: 'pax' | 'longname' | 'longlink' | 'global' | null; collected: Buffer[] }
  | { kind: 'end'; zeroBlocks: number };

export class TarReader {
  private pending: Buffer = Buffer.alloc(0);
  private state: State = { kind: 'header' };
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  entries = 0;

  constructor(private readonly sink: TarSink) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    for (;;) {
      const st = this.state;
      if (st.kind === 'data') {
        if (st.remaining > 0) {
          const n = Math.min(st.remaining, this.pending.length - off);
          if (n === 0) break;
          const piece = this.pending.subarray(off, off + n);
          if (st.meta) st.collected.push(Buffer.from(piece));
          else this.sink.data(piece);
          st.remaining -= n;
          off += n;
          continue;
        }
        if (this.pending.length - off < st.padding) break;
        off += st.padding;
        this.finishData(st);
        continue;
      }
      if (this.pending.length - off < BLOCK) break;
      const h = this.pending.subarray(off, off + BLOCK);
      off += BLOCK;
      const zero = h.every((x) => x === 0);
      if (st.kind === 'end') {
        if (!zero) throw new Error('tar: data after the end-of-archive marker');
        st.zeroBlocks++;
        continue;
      }
      if (zero) {
        this.state = { kind: 'end', zeroBlocks: 1 };
        continue;
      }
      this.header(h);
    }
    this.pending = this.pending.subarray(off);
  }

  /** The stream ended: it must have ended on an entry boundary. */
  end(): void {
    if (this.state.kind === 'data') throw new Error('tar: archive truncated inside an entry');
    // A partial block left over is a truncated header (or junk).
    if (this.pending.length && !(this.state.kind === 'end' && this.pending.every((x) => x === 0))) throw new Error('tar: archive truncated inside a header');
    // No end-of-archive marker at all is accepted, as Go's archive/tar (Docker's) does.
  }

  private header(h: Buffer): void {
    if (!checksumOk(h)) throw new Error(`tar: header checksum mismatch after ${this.entries} entries (not a tar archive, or corrupt)`);
    const flag = String.fromCharCode(h[156] || 0x30);
    let size = numeric(h, 124, 12, 'size');
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') ? cString(h, 345, 155) : '';
    let path = cString(h, 0, 100);
    if (prefix) path = `${prefix}/${path}`;
    let linkName = cString(h, 157, 100);
    const metaKind = flag === 'x' ? 'pax' : flag === 'L' ? 'longname' : flag === 'K' ? 'longlink' : flag === 'g' ? 'global' : null;
    if (metaKind) {
      this.state = { kind: 'data', remaining: size, padding: pad(size), meta: metaKind, collected: [] };
      return;
    }
    if (this.pax.path !== undefined) path = this.pax.path;
    if (this.longName !== undefined) path = this.longName;
    if (this.pax.linkpath !== undefined) linkName = this.pax.linkpath;
    if (this.longLink !== undefined) linkName = this.longLink;
    if (this.pax.size !== undefined) {
      const s = Number(this.pax.size);
      if (!Number.isSafeInteger(s) || s < 0) throw new Error(`tar: bad PAX size ${JSON.stringify(this.pax.size)}`);
      size = s;
    }
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    const type: TarEntryType =
      flag === '0' || flag === '7' || flag === '\0' ? 'file'
        : flag === '1' ? 'hardlink'
          : flag === '2' ? 'symlink'
            : flag === '5' ? 'directory'
              : 'other';
    // Only regular files (and GNU sparse/unknown types, conservatively) carry data.
    const dataSize = type === 'hardlink' || type === 'symlink' || type === 'directory' || flag === '3' || flag === '4' || flag === '6' ? 0 : size;
    this.entries++;
    this.sink.entry({ path, type, size: dataSize, linkName });
    this.state = { kind: 'data', remaining: dataSize, padding: pad(dataSize), meta: null, collected: [] };
  }

  private finishData(st: Extract<State, { kind: 'data' }>): void {
    this.state = { kind: 'header' };
    if (!st.meta) {
      this.sink.endEntry();
      return;
    }
    const body = Buffer.concat(st.collected);
    if (st.meta === 'pax') this.pax = { ...this.pax, ...parsePax(body) };
    else if (st.meta === 'longname') this.longName = cString(body, 0, body.length);
    else if (st.meta === 'longlink') this.longLink = cString(body, 0, body.length);
    // global PAX headers: nothing a scan needs
  }
}

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

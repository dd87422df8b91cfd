/**
 * Scans an unpacked `docker save` archive (legacy or OCI layout) for secrets:
 * every layer the manifests list, read as a stream (gzip and zstd layers
 * decompressed, zstd with the `zstd` tool), every regular file in it, and
 * every image config. Anything that could not be read is an error, never a
 * silent pass. See findings.ts for what counts as a secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { readImageLayout, type LayerRef } from './layout';
import { ContentScanner, isKeyFileName, scanConfig, type FileFindingKind, type ConfigFindingKind } from './findings';
import { TarReader } from './tar-reader';

export interface Finding {
  kind: FileFindingKind | ConfigFindingKind;
  /** `<layer>:/path/in/layer` or `<config>: field` */
  where: string;
  detail?: string;
}

export interface ScanResult {
  layers: number;
  files: number;
  bytes: number;
  configs: number;
  images: number;
  findings: Finding[];
  errors: string[];
  notes: string[];
}

const MAX_NEEDLE = 60 * 1024;

/** The real path of `rel` inside `root`, or undefined when missing or outside it. */
function inside(root: string, rel: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(path.join(root, rel));
  } catch {
    return undefined;
  }
  const r = fs.realpathSync(root);
  if (real !== r && !real.startsWith(r + path.sep)) return undefined;
  return fs.statSync(real).isFile() ? real : undefined;
}

type Compression = 'none' | 'gzip' | 'zstd';

function sniff(file: string): Compression | { error: string } {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(264);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    if (n === 0) return { error: 'empty file' };
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return { error: 'bzip2-compressed layer (not supported)' };
    if (b[0] === 0xfd && b.subarray(1, 6).toString('latin1') === '7zXZ\0') return { error: 'xz-compressed layer (not supported)' };
    return 'none';
  } finally {
    fs.closeSync(fd);
  }
}

/** The layer's tar bytes, decompressed. Errors (incl. the zstd tool's exit status) surface while iterating. */
async function* layerStream(file: string, c: Compression): AsyncGenerator<Buffer> {
  if (c === 'none') {
    yield* fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
    return;
  }
  if (c === 'gzip') {
    yield* fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(zlib.createGunzip()) as AsyncIterable<Buffer>;
    return;
  }
  const child = spawn('zstd', ['-d', '-c', '-q', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (e) => resolve(`cannot run zstd: ${e.message}`));
    child.on('close', (code, sig) => resolve(code ?? `signal ${sig}`));
  });
  let drained = false;
  try {
    yield* child.stdout as Readable as AsyncIterable<Buffer>;
    drained = true;
  } finally {
    if (!drained) child.kill('SIGKILL'); // the reader gave up (a bad tar): stop zstd
  }
  const status = await exited;
  if (status !== 0) throw new Error(typeof status === 'string' ? status : `zstd -d exited ${status}: ${stderr.trim().slice(0, 300)}`);
}

function shortName(layerPath: string): string {
  const m = /^blobs\/[^/]+\/([0-9a-f]{12})/.exec(layerPath) ?? /^([0-9a-f]{12})[0-9a-f]*\/layer\.tar$/.exec(layerPath);
  return m ? m[1] : layerPath;
}

async function scanLayer(file: string, layer: LayerRef, needles: Buffer[], res: ScanResult): Promise<void> {
  const c = sniff(file);
  if (typeof c !== 'string') throw new Error(c.error);
  const tag = shortName(layer.path);
  if (!layer.tar) {
    const s = new ContentScanner(needles);
    for await (const chunk of layerStream(file, c)) {
      s.feed(chunk);
      res.bytes += chunk.length;
    }
    for (const kind of s.end()) res.findings.push({ kind, where: `${tag} (non-filesystem blob)` });
    res.files++;
    return;
  }
  let current: { path: string; scanner: ContentScanner } | undefined;
  let files = 0;
  let bytes = 0;
  const found: Finding[] = [];
  const reader = new TarReader({
    entry(e) {
      const p = '/' + e.path.replace(/^\.?\/+/, '');
      // Regular files, and any unknown type that carries data (GNU sparse…): never skip content.
      if (e.type !== 'file' && !(e.type === 'other' && e.size > 0)) return;
      files++;
      if (e.size > 0 && isKeyFileName(p)) found.push({ kind: 'key-file', where: `${tag}:${p}` });
      current = { path: p, scanner: new ContentScanner(needles) };
    },
    data(chunk) {
      current?.scanner.feed(chunk);
      bytes += chunk.length;
    },
    endEntry() {
      if (!current) return;
      for (const kind of current.scanner.end()) found.push({ kind, where: `${tag}:${current.path}` });
      current = undefined;
    },
  });
  let raw = 0;
  for await (const chunk of layerStream(file, c)) {
    raw += chunk.length;
    reader.push(chunk);
  }
  reader.end();
  if (raw === 0) throw new Error('layer decompressed to nothing');
  res.files += files;
  res.bytes += bytes;
  res.findings.push(...found);
}

export async function scanImageDir(dir: string, needleStrings: string[]): Promise<ScanResult> {
  const res: ScanResult = { layers: 0, files: 0, bytes: 0, configs: 0, images: 0, findings: [], errors: [], notes: [] };
  const long = needleStrings.filter((n) => Buffer.byteLength(n) > MAX_NEEDLE);
  if (long.length) res.errors.push(`${long.length} fixed string(s) longer than ${MAX_NEEDLE} bytes: not supported`);
  const needles = needleStrings.map((n) => Buffer.from(n, 'utf8'));

  const layout = readImageLayout((rel) => {
    const real = inside(dir, rel);
    return real === undefined ? undefined : fs.readFileSync(real, 'utf8');
  });
  res.images = layout.images;
  res.notes.push(...layout.notes);
  res.errors.push(...layout.errors);
  if (res.errors.length) return res;

  for (const c of layout.configs) {
    const real = inside(dir, c);
    if (!real) {
      res.errors.push(`config ${c}: missing from the archive`);
      continue;
    }
    let cfg: unknown;
    try {
      cfg = JSON.parse(fs.readFileSync(real, 'utf8'));
    } catch (e) {
      res.errors.push(`config ${c}: not JSON (${(e as Error).message})`);
      continue;
    }
    for (const f of scanConfig(cfg, needleStrings)) res.findings.push({ kind: f.kind, where: `config ${shortName(c)}: ${f.field}`, detail: f.detail });
    res.configs++;
  }

  for (const l of layout.layers) {
    const real = inside(dir, l.path);
    if (!real) {
      res.errors.push(`layer ${l.path}: missing from the archive`);
      continue;
    }
    try {
      await scanLayer(real, l, needles, res);
      if (l.tar) res.layers++;
    } catch (e) {
      res.errors.push(`layer ${l.path}: could not be read: ${(e as Error).message}`);
    }
  }
  if (res.layers === 0 && res.errors.length === 0) res.errors.push('zero layers scanned');
  return res;
}

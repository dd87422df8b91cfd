/**
 * Counts secrets in a saved Docker image (see scripts/image-scan/findings.ts).
 *
 *   node dist/scripts/scan-image-secrets.js (--dir DIR | --archive FILE.tar) [--needles FILE] [--json]
 *
 * DIR is an unpacked `docker save` archive, legacy or OCI layout.
 * stdout: the number of findings (or, with --json, the whole result);
 * stderr: each finding, then a summary (layers, files, findings).
 * Exit 0 when the scan completed (whatever it found), 2 when it could not
 * read the image (no manifest, zero layers, an unreadable layer, bad usage):
 * then stdout is empty, so a caller comparing it with "0" fails.
 * scripts/probe-image-secrets.sh IMAGE [NEEDLE_FILE] runs `docker save` and this.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseNeedles } from './image-scan/findings';
import { scanImageDir } from './image-scan/scan';

class ScanFailed extends Error {}
function fail(msg: string): never {
  throw new ScanFailed(msg);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let dir: string | undefined;
  let archive: string | undefined;
  let needleFile: string | undefined;
  let json = false;
  const errors: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dir') dir = argv[++i];
    else if (a === '--archive') archive = argv[++i];
    else if (a === '--needles') needleFile = argv[++i];
    else if (a === '--json') json = true;
    else errors.push(`unknown argument ${JSON.stringify(a)}`);
  }
  if ((dir === undefined) === (archive === undefined)) errors.push('give exactly one of --dir DIR and --archive FILE');
  let needles: string[] = [];
  if (needleFile !== undefined) {
    try {
      needles = parseNeedles(fs.readFileSync(needleFile, 'utf8'));
    } catch (e) {
      errors.push(`--needles: ${(e as Error).message}`);
    }
  }
  if (errors.length) fail(errors.join('; '));

  let tmp: string | undefined;
  try {
    if (archive !== undefined) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-image-scan-'));
      const r = spawnSync('tar', ['-x', '-f', archive, '-C', tmp], { encoding: 'utf8' });
      if (r.status !== 0) fail(`tar -x ${archive}: ${(r.stderr || r.error?.message || '').trim()}`);
      dir = tmp;
    }
    const res = await scanImageDir(dir!, needles);
    for (const f of res.findings) {
      const what = f.kind === 'secret' || f.kind === 'config-secret' ? 'secret' : f.kind === 'key-file' ? 'private key file name' : f.kind === 'config-secret-env' ? 'secret-looking assignment' : 'private key';
      process.stderr.write(`${what} in ${f.where}${f.detail ? ` (${f.detail})` : ''}\n`);
    }
    for (const n of res.notes) process.stderr.write(`note: ${n}\n`);
    const summary = `${res.images} image(s), ${res.configs} config(s), ${res.layers} layers, ${res.files} files (${(res.bytes / 1e6).toFixed(1)} MB) scanned, ${res.findings.length} findings`;
    if (res.errors.length) {
      for (const e of res.errors) process.stderr.write(`probe-image-secrets: ${e}\n`);
      fail(`${res.errors.length} problem(s); ${summary}`);
    }
    process.stderr.write(`probe-image-secrets: ${summary}\n`);
    process.stdout.write(json ? JSON.stringify(res) + '\n' : `${res.findings.length}\n`);
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`probe-image-secrets: FAILED: ${e instanceof ScanFailed ? e.message : (e as Error).stack ?? String(e)}\n`);
  process.exitCode = 2;
});

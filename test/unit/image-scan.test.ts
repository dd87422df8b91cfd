import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readImageLayout, blobPath, safeRelPath } from '../../scripts/image-scan/layout';
import { TarReader, type TarEntry } from '../../scripts/image-scan/tar-reader';
import { ContentScanner, hasPrivateKeyWithBody, isKeyFileName, parseNeedles, scanConfig, secretAssignments } from '../../scripts/image-scan/findings';

const h = (c: string) => c.repeat(64);
const files = (m: Record<string, unknown>) => (p: string) => (p in m ? (typeof m[p] === 'string' ? (m[p] as string) : JSON.stringify(m[p])) : undefined);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const ociManifest = (cfg: string, layers: string[], layerType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({
  schemaVersion: 2, mediaType: MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${h(cfg)}`, size: 1 },
  layers: layers.map((l) => ({ mediaType: layerType, digest: `sha256:${h(l)}`, size: 1 })),
});

t.test('layout: legacy docker save (manifest.json, <id>/layer.tar)', async (t) => {
  const l = readImageLayout(files({ 'manifest.json': [{ Config: `${h('c')}.json`, RepoTags: ['a:1'], Layers: [`${h('1')}/layer.tar`, `${h('2')}/layer.tar`] }] }));
  t.same(l.errors, []);
  t.same(l.configs, [`${h('c')}.json`]);
  t.same(l.layers.map((x) => x.path), [`${h('1')}/layer.tar`, `${h('2')}/layer.tar`]);
  t.ok(l.layers.every((x) => x.tar));
  t.equal(l.images, 1);
});

t.test('layout: Docker 25+ (manifest.json naming blobs + index.json): united, each layer once', async (t) => {
  const l = readImageLayout(files({
    'manifest.json': [{ Config: `blobs/sha256/${h('c')}`, Layers: [`blobs/sha256/${h('1')}`, `blobs/sha256/${h('2')}`] }],
    'index.json': { schemaVersion: 2, manifests: [{ mediaType: MANIFEST, digest: `sha256:${h('b')}`, size: 1 }] },
    [`blobs/sha256/${h('b')}`]: ociManifest('c', ['1', '2', '3'], 'application/vnd.oci.image.layer.v1.tar'),
  }));
  t.same(l.errors, []);
  t.same(l.layers.map((x) => x.path), [h('1'), h('2'), h('3')].map((x) => `blobs/sha256/${x}`), 'a layer only index.json lists is scanned too');
  t.same(l.configs, [`blobs/sha256/${h('c')}`]);
  t.equal(l.images, 2);
});

t.test('layout: OCI index -> multi-platform index -> manifest; absent platforms noted, attestations not tars', async (t) => {
  const l = readImageLayout(files({
    'index.json': { schemaVersion: 2, manifests: [{ mediaType: INDEX, digest: `sha256:${h('0')}`, size: 1 }] },
    [`blobs/sha256/${h('0')}`]: {
      schemaVersion: 2, mediaType: INDEX, manifests: [
        { mediaType: MANIFEST, digest: `sha256:${h('b')}`, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MANIFEST, digest: `sha256:${h('f')}`, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MANIFEST, digest: `sha256:${h('a')}`, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      ],
    },
    [`blobs/sha256/${h('b')}`]: ociManifest('c', ['1', '2'], 'application/vnd.oci.image.layer.v1.tar+zstd'),
    [`blobs/sha256/${h('a')}`]: { ...ociManifest('d', ['9']), layers: [{ mediaType: 'application/vnd.in-toto+json', digest: `sha256:${h('9')}`, size: 1 }] },
  }));
  t.same(l.errors, []);
  t.same(l.layers.map((x) => [x.path.slice(13, 14), x.tar]), [['1', true], ['2', true], ['9', false]]);
  t.same(l.configs.length, 2);
  t.match(l.notes.join('\n'), /not in the archive \(another platform\)/);
});

t.test('layout: every problem reported, nothing guessed', async (t) => {
  t.match(readImageLayout(files({})).errors, [/neither manifest.json nor index.json/]);
  t.match(readImageLayout(files({ 'manifest.json': [{ Config: 'c.json', Layers: [] }] })).errors, [/zero layers/]);
  t.match(readImageLayout(files({ 'manifest.json': '{not json' })).errors, [/manifest.json: not JSON/]);
  const bad = readImageLayout(files({ 'manifest.json': [{ Config: '/etc/passwd', Layers: ['../x/layer.tar', 'ok/layer.tar', 7] }] }));
  t.equal(bad.errors.length, 3, bad.errors.join('; '));
  const missingTop = readImageLayout(files({ 'index.json': { manifests: [{ mediaType: MANIFEST, digest: `sha256:${h('b')}` }] } }));
  t.match(missingTop.errors, [/blob blobs\/sha256\/b+ missing/]);
  const badDigest = readImageLayout(files({ 'index.json': { manifests: [{ mediaType: MANIFEST, digest: 'sha256:../../etc/passwd' }, { digest: 'sha256:abc' }] } }));
  t.equal(badDigest.errors.length, 2, badDigest.errors.join('; '));
  const unknown = readImageLayout(files({ 'index.json': { manifests: [{ mediaType: 'application/x-what', digest: `sha256:${h('b')}` }] }, [`blobs/sha256/${h('b')}`]: {} }));
  t.match(unknown.errors, [/unknown media type/]);
  t.equal(blobPath(`sha256:${h('a')}`), `blobs/sha256/${h('a')}`);
  t.same(safeRelPath('./a//b/layer.tar'), 'a/b/layer.tar');
  t.ok(typeof safeRelPath('a/../../b') !== 'string');
});

function readAll(buf: Buffer, chunk: number): { entries: (TarEntry & { sha: string })[]; } {
  const entries: (TarEntry & { sha: string })[] = [];
  let hash: crypto.Hash | undefined;
  const r = new TarReader({
    entry(e) { entries.push({ ...e, sha: '' }); hash = crypto.createHash('sha256'); },
    data(c) { hash!.update(c); },
    endEntry() { entries[entries.length - 1].sha = hash!.digest('hex'); },
  });
  for (let i = 0; i < buf.length; i += chunk) r.push(buf.subarray(i, i + chunk));
  r.end();
  return { entries };
}

t.test('tar reader: GNU and PAX archives made by tar(1), any chunking', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-tar-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const deep = path.join('d'.repeat(90), 'e'.repeat(90), 'f'.repeat(90));
  fs.mkdirSync(path.join(src, deep), { recursive: true });
  const big = crypto.randomBytes(300000);
  fs.writeFileSync(path.join(src, deep, `${'n'.repeat(120)}.txt`), 'long name\n');
  fs.writeFileSync(path.join(src, 'big.bin'), big);
  fs.writeFileSync(path.join(src, 'empty'), '');
  fs.symlinkSync('big.bin', path.join(src, 'link'));
  fs.linkSync(path.join(src, 'big.bin'), path.join(src, 'hard'));
  for (const format of ['gnu', 'pax', 'ustar']) {
    const out = path.join(dir, `${format}.tar`);
    try {
      execFileSync('tar', ['--format', format, '--sort=name', '-c', '-f', out, '-C', src, '.'], { stdio: 'pipe' });
    } catch (e) {
      // ustar cannot hold a 120-character file name in a 270-character directory: expected
      t.equal(format, 'ustar', `${format}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
      continue;
    }
    const buf = fs.readFileSync(out);
    for (const chunk of [7, 4093, buf.length]) {
      const { entries } = readAll(buf, chunk);
      const byPath = new Map(entries.map((e) => [e.path.replace(/^\.\//, '').replace(/\/$/, ''), e]));
      const long = byPath.get(path.join(deep, `${'n'.repeat(120)}.txt`));
      t.equal(long?.type, 'file', `${format}/${chunk}: long path read whole`);
      t.equal(long?.sha, crypto.createHash('sha256').update('long name\n').digest('hex'));
      t.equal(byPath.get('big.bin')?.sha, crypto.createHash('sha256').update(big).digest('hex'), `${format}/${chunk}: content streamed intact`);
      t.equal(byPath.get('empty')?.size, 0);
      t.equal(byPath.get('link')?.type, 'symlink');
      t.equal(byPath.get('link')?.linkName, 'big.bin');
      t.equal(byPath.get('hard')?.type, 'hardlink');
      t.equal(byPath.get('hard')?.size, 0, 'a hard link carries no data');
    }
  }
  const gnu = fs.readFileSync(path.join(dir, 'gnu.tar'));
  const corrupt = Buffer.from(gnu);
  corrupt[1] ^= 0xff;
  t.throws(() => readAll(corrupt, 4096), /checksum mismatch/);
  t.throws(() => readAll(gnu.subarray(0, 2048 + 100), 4096), /truncated/);
  const afterEnd = Buffer.concat([Buffer.alloc(512), gnu.subarray(0, 512)]);
  t.throws(() => readAll(afterEnd, 4096), /after the end-of-archive marker/);
  t.throws(() => readAll(Buffer.from('this is not a tar archive'.repeat(40)), 4096), /checksum|bad/);
});

const KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW'}\nQyNTUxOQ==\n-----END OPENSSH PRIVATE KEY-----\n`;

t.test('findings: a private key needs a real body; headers alone are library constants', async (t) => {
  t.ok(hasPrivateKeyWithBody(KEY));
  t.ok(hasPrivateKeyWithBody(KEY.replace(/\n/g, '\r\n')), 'CRLF');
  t.ok(hasPrivateKeyWithBody(JSON.stringify({ key: KEY })), 'inside a JSON/JS string (literal \\n)');
  t.ok(hasPrivateKeyWithBody(`-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\n\n${'A'.repeat(64)}\n`), 'legacy encrypted PEM');
  t.ok(hasPrivateKeyWithBody(`x\n-----BEGIN PRIVATE KEY-----\n${'M'.repeat(64)}\n-----END PRIVATE KEY-----`));
  t.notOk(hasPrivateKeyWithBody("const H = '-----BEGIN OPENSSH PRIVATE KEY-----';\nconst y = somethingElse(H);\n"));
  t.notOk(hasPrivateKeyWithBody('-----BEGIN PUBLIC KEY-----\n' + 'M'.repeat(64)));
  const scan = (chunks: Buffer[], needles: string[] = []) => {
    const s = new ContentScanner(needles.map((n) => Buffer.from(n)));
    for (const c of chunks) s.feed(c);
    return [...s.end()].sort();
  };
  t.same(scan([Buffer.from(KEY)]), ['private-key']);
  t.same(scan([Buffer.from('\x7fE'), Buffer.from('LF' + KEY)]), [], 'ELF files skipped for keys (vendor self-test constants), even when the magic is split');
  t.same(scan([Buffer.from('\x7fELF' + 'hunter2-secret')], ['hunter2-secret']), ['secret'], 'but not for the operator\'s secrets');
  t.same(scan([Buffer.from('pass=hunt'), Buffer.from('er2-secret\n')], ['hunter2-secret']), ['secret'], 'a needle split across chunks');
  const big = Buffer.alloc(32 * 1024 * 1024 - 5, 0x61);
  t.same(scan([big, Buffer.from('hunter2-secret'), Buffer.alloc(1000, 0x61)], ['hunter2-secret']), ['secret'], 'a needle across the 32 MiB window boundary');
  t.same(scan([big, Buffer.from(KEY)]), ['private-key'], 'a key across the window boundary');
});

t.test('findings: key file names, needles, config', async (t) => {
  for (const p of ['/etc/ssh/ssh_host_ed25519_key', '/root/.ssh/id_rsa', '/home/a/.ssh/id_ed25519', '/etc/ssl/private/ssl-cert-snakeoil.key', '/x/id_ecdsa_sk']) t.ok(isKeyFileName(p), p);
  for (const p of ['/etc/ssh/ssh_host_ed25519_key.pub', '/root/.ssh/id_rsa.pub', '/usr/lib/keyring.gpg', '/x/.wh.id_rsa', '/x/monkey']) t.notOk(isKeyFileName(p), p);
  t.same(parseNeedles('a\r\n\n  \nbb\na\n'), ['a', 'bb'], 'blank lines would match everything: dropped');
  t.same(secretAssignments('APP_PASSWORD=x API_TOKEN="y z" PASSWORD_FILE=/run/secrets/p HOME=/root DB_SECRET=$FROM_ENV T_TOKEN= X_SECRET=/run/secrets/x'), ['APP_PASSWORD', 'API_TOKEN']);
  t.same(secretAssignments('|1 REPMGR_PASSWORD=s3cret /bin/sh -c make'), ['REPMGR_PASSWORD'], 'a build argument in history');
  const cfg = {
    config: { Env: ['PATH=/usr/bin', 'PGSWARM_TOKEN_FILE=/run/secrets/t', 'X=hunter2-secret'], Entrypoint: ['tini', '--', 'node'], Cmd: null, Labels: { k: '-----BEGIN PRIVATE KEY-----' } },
    history: [{ created_by: '/bin/sh -c #(nop)  ENV ADMIN_PASSWORD=abc' }, { created_by: 'RUN make', empty_layer: true }],
  };
  t.same(scanConfig(cfg, ['hunter2-secret']).map((f) => `${f.field} ${f.kind}`), [
    'config.Env[2] config-secret',
    'config.Labels.k config-private-key',
    'history[0].created_by config-secret-env',
  ]);
  t.same(scanConfig({ config: { Env: ['PATH=/bin', 'NODE_ENV=production'] }, history: [{ created_by: 'COPY x /y' }] }, ['zz']), [], 'the real images\' kind of config: clean');
  t.notOk(JSON.stringify(scanConfig(cfg, ['hunter2-secret'])).includes('hunter2') || JSON.stringify(scanConfig(cfg, [])).includes('abc'), 'findings never carry the secret');
});

import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { toOciLayout, type LayerCompression } from '../helpers/oci-layout';

// The image secret scan (scripts/probe-image-secrets.sh, used by the e2e
// security probe) against throw-away images built here FROM scratch: one with
// planted secrets (a private key file, a file named like a host key, the
// operator's password in a file and in ENV), one clean. The planted image
// must be flagged in the legacy layout this engine's `docker save` writes AND
// in the OCI layout of Docker >= 25 (converted here by hand: blobs/sha256,
// index.json, with and without manifest.json, layers plain, gzip and zstd).
// The old probe globbed */layer.tar, so on an OCI archive it scanned nothing
// and printed 0. The scan must also fail loudly (exit 2, nothing on stdout)
// when it cannot read the image.
// Needs Docker: every docker command takes /tmp/pgswarm-e2e.lock itself, so run
// this file under /tmp/pgswarm-it.lock only (not under the e2e lock).

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PROBE = path.join(ROOT, 'scripts', 'probe-image-secrets.sh');
const SCAN = path.join(ROOT, 'dist', 'scripts', 'scan-image-secrets.js');
const LOCK = '/tmp/pgswarm-e2e.lock';
const TAG = `pgswarm-scan-test-${process.pid}`;
const PLANTED = `${TAG}/planted:latest`;
const CLEAN = `${TAG}/clean:latest`;
const dir = fs.mkdtempSync('/tmp/pgswarm-image-scan-test-');
const secret = `pw-${crypto.randomBytes(12).toString('hex')}`;
const needleFile = path.join(dir, 'needles');

interface Out { code: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300000): Out {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
const docker = (args: string[], timeoutMs = 300000) => run('flock', ['-w', '900', LOCK, 'docker', ...args], { ...process.env, DOCKER_BUILDKIT: '0' }, timeoutMs);
const must = (what: string, r: Out): Out => {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(-1000)}`);
  return r;
};

// The e2e's entry point, with a `docker` on PATH whose `save` prints a given archive.
const shim = path.join(dir, 'shim');
function probeArchive(archive: string, needles = true): Out {
  return run('bash', [PROBE, 'any/image:latest', ...(needles ? [needleFile] : [])], { ...process.env, PATH: `${shim}:${process.env.PATH}`, SHIM_SAVE_TAR: archive });
}
interface Json { layers: number; files: number; findings: { kind: string; where: string }[] }
function scanJson(archive: string): Json {
  const r = must(`scan --json ${archive}`, run(process.execPath, [SCAN, '--archive', archive, '--needles', needleFile, '--json']));
  return JSON.parse(r.stdout) as Json;
}
/** Findings without the layer or config name (which differ between layouts). */
const shape = (j: Json) => j.findings.map((f) => `${f.kind} ${f.where.replace(/^config [^:]*: /, 'config ').replace(/^[^:]*:\//, '/')}`).sort();
const summary = (stderr: string) => {
  const m = /(\d+) layers, (\d+) files .* scanned, (\d+) findings/.exec(stderr);
  return m ? { layers: Number(m[1]), files: Number(m[2]), findings: Number(m[3]) } : undefined;
};

function fakeOpensshKey(): string {
  const body = crypto.randomBytes(300).toString('base64').match(/.{1,70}/g)!.join('\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function writeContext(name: string, files: Record<string, string | Buffer>, dockerfile: string): string {
  const ctx = path.join(dir, name);
  fs.mkdirSync(ctx, { recursive: true });
  for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(ctx, f), c);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

function tarDir(src: string, out: string): string {
  must(`tar ${src}`, run('tar', ['-c', '-f', out, '-C', src, '.']));
  return out;
}
function unpack(archive: string, name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  must(`untar ${archive}`, run('tar', ['-x', '-f', archive, '-C', d]));
  return d;
}
function ociArchive(legacyDir: string, name: string, compression: LayerCompression, dockerManifest: boolean, nestedIndex = false): string {
  const d = path.join(dir, name);
  toOciLayout(legacyDir, d, { compression, dockerManifest, nestedIndex });
  return tarDir(d, `${d}.tar`);
}

let planted: { archive: string; legacyDir: string } | undefined;
let clean: { archive: string; legacyDir: string } | undefined;

t.teardown(() => {
  docker(['rmi', '-f', PLANTED, CLEAN], 120000);
  fs.rmSync(dir, { recursive: true, force: true });
});

t.before(() => {
  fs.mkdirSync(shim);
  fs.writeFileSync(path.join(shim, 'docker'), '#!/bin/sh\n[ "$1" = save ] && exec cat "$SHIM_SAVE_TAR"\necho "shim docker: only save" >&2; exit 1\n', { mode: 0o755 });
  fs.writeFileSync(needleFile, `${secret}\n`, { mode: 0o600 });
  const header = "const HEADER = '-----BEGIN OPENSSH PRIVATE KEY-----';\nmodule.exports = { HEADER };\n";
  // An ELF binary with a key-shaped constant: vendor self-test data, not a finding.
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56), Buffer.from(fakeOpensshKey())]);
  const p = writeContext('planted', {
    'hello.txt': 'hello\n',
    'backup.dat': fakeOpensshKey(),
    'host.key': 'not PEM, but named like a host key\n',
    'app.conf': `listen = 5432\npassword = ${secret}\n`,
  }, [
    'FROM scratch',
    'COPY hello.txt /hello.txt',
    'COPY backup.dat /srv/backup.dat',
    'COPY host.key /etc/ssh/ssh_host_ed25519_key',
    'COPY app.conf /srv/app.conf',
    `ENV APP_DB_PASSWORD=${secret}`,
    '',
  ].join('\n'));
  const c = writeContext('clean', { 'hello.txt': 'hello\n', 'lib.js': header, 'vendor.so': elf, 'README': 'nothing to see\n' }, [
    'FROM scratch',
    'COPY hello.txt /hello.txt',
    'COPY lib.js /opt/lib.js',
    'COPY vendor.so README /opt/',
    'ENV APP_DB_PASSWORD_FILE=/run/secrets/app.password',
    '',
  ].join('\n'));
  must('docker build planted', docker(['build', '-q', '-t', PLANTED, p]));
  must('docker build clean', docker(['build', '-q', '-t', CLEAN, c]));
  const pa = path.join(dir, 'planted-legacy.tar');
  const ca = path.join(dir, 'clean-legacy.tar');
  must('docker save planted', docker(['save', '-o', pa, PLANTED]));
  must('docker save clean', docker(['save', '-o', ca, CLEAN]));
  planted = { archive: pa, legacyDir: unpack(pa, 'planted-legacy') };
  clean = { archive: ca, legacyDir: unpack(ca, 'clean-legacy') };
});

const EXPECTED = [
  'config config.Env[1]: config-secret',
  'config config.Env[1]: config-secret-env',
  'file /etc/ssh/ssh_host_ed25519_key: key-file',
  'file /srv/app.conf: secret',
  'file /srv/backup.dat: private-key',
];
const essentials = (j: Json) => [...new Set(j.findings.map((f) => {
  if (f.where.startsWith('config ')) return `config ${f.where.replace(/^config [^:]*: /, '')}: ${f.kind}`;
  return `file ${f.where.replace(/^[^:]*:/, '')}: ${f.kind}`;
}).filter((x) => !x.startsWith('config history') && !x.startsWith('config container_config')))].sort();

t.test('legacy layout (this engine): the real probe flags the planted image and passes the clean one', async (t) => {
  if (!planted || !clean) { t.fail('setup failed'); return; }
  const legacyLayout = fs.existsSync(path.join(planted.legacyDir, 'index.json')) ? 'OCI (Docker >= 25)' : 'legacy';
  t.comment(`this engine's docker save writes the ${legacyLayout} layout`);
  const p = run('flock', ['-w', '900', LOCK, 'bash', PROBE, PLANTED, needleFile]);
  t.equal(p.code, 0, 'probe of the planted image completed', { err: p.stderr });
  const s = summary(p.stderr);
  t.ok(s && s.layers >= 4, `planted: layers scanned ${s?.layers}`);
  t.ok(Number(p.stdout.trim()) >= EXPECTED.length, `planted image flagged: ${p.stdout.trim()} findings`, { err: p.stderr });
  t.notOk(p.stderr.includes(secret), 'the secret itself is never printed');
  const j = scanJson(planted.archive);
  t.same(essentials(j), EXPECTED, 'every planted secret found, where it was planted');
  const c = run('flock', ['-w', '900', LOCK, 'bash', PROBE, CLEAN, needleFile]);
  t.equal(c.code, 0, 'probe of the clean image completed', { err: c.stderr });
  t.equal(c.stdout.trim(), '0', 'clean image: 0 findings (a key header in JS, a key inside an ELF file, a *_FILE variable are not secrets)', { err: c.stderr });
  const cs = summary(c.stderr);
  t.ok(cs && cs.layers >= 3 && cs.files >= 4, `clean: ${cs?.layers} layers, ${cs?.files} files scanned`);
});

const variants: { name: string; compression: LayerCompression; dockerManifest: boolean; nested?: boolean }[] = [
  { name: 'Docker 25+ save (manifest.json + index.json, plain tar blobs)', compression: 'none', dockerManifest: true },
  { name: 'OCI layout, index.json only, gzip layers', compression: 'gzip', dockerManifest: false },
  { name: 'OCI layout, index.json -> multi-platform index -> manifest, zstd layers', compression: 'zstd', dockerManifest: false, nested: true },
];

for (const [i, v] of variants.entries()) {
  t.test(`${v.name}: the probe flags the planted image, same findings as legacy`, async (t) => {
    if (!planted || !clean) { t.fail('setup failed'); return; }
    const legacy = scanJson(planted.archive);
    const a = ociArchive(planted.legacyDir, `planted-oci-${i}`, v.compression, v.dockerManifest, v.nested);
    const r = probeArchive(a);
    t.equal(r.code, 0, 'probe completed', { err: r.stderr });
    t.equal(r.stdout.trim(), String(legacy.findings.length), `planted image flagged: ${r.stdout.trim()} findings (legacy: ${legacy.findings.length})`, { err: r.stderr.slice(-1500) });
    t.equal(summary(r.stderr)?.layers, legacy.layers, `layers scanned: ${summary(r.stderr)?.layers} of ${legacy.layers}`);
    const j = scanJson(a);
    t.same(shape(j), shape(legacy), 'the same findings at the same places');
    t.equal(j.files, legacy.files, `files scanned: ${j.files}`);
    const ca = ociArchive(clean.legacyDir, `clean-oci-${i}`, v.compression, v.dockerManifest, v.nested);
    const c = probeArchive(ca);
    t.equal(c.code, 0, 'probe of the clean image completed', { err: c.stderr });
    t.equal(c.stdout.trim(), '0', 'clean image: 0 findings', { err: c.stderr });
    t.ok((summary(c.stderr)?.layers ?? 0) >= 3, `clean: ${summary(c.stderr)?.layers} layers scanned`);
  });
}

t.test('a scan that cannot read the image fails loudly: exit 2, nothing on stdout', async (t) => {
  if (!planted) { t.fail('setup failed'); return; }
  const expectFail = (what: string, archive: string, re: RegExp) => {
    const r = probeArchive(archive);
    t.equal(r.code, 2, `${what}: exit 2`, { err: r.stderr });
    t.equal(r.stdout, '', `${what}: no count on stdout`);
    t.match(r.stderr, re, `${what}: says why`);
  };
  // layer blob missing
  const d1 = path.join(dir, 'broken-missing');
  const { layers } = toOciLayout(planted.legacyDir, d1, { compression: 'gzip', dockerManifest: false });
  fs.rmSync(path.join(d1, layers[1]));
  expectFail('a layer blob missing', tarDir(d1, `${d1}.tar`), /layer blobs\/sha256\/[0-9a-f]+: missing/);
  // layer truncated
  const d2 = path.join(dir, 'broken-truncated');
  const t2 = toOciLayout(planted.legacyDir, d2, { compression: 'none', dockerManifest: true });
  const f2 = path.join(d2, t2.layers[2]);
  fs.truncateSync(f2, Math.floor(fs.statSync(f2).size / 2) + 100);
  expectFail('a truncated layer', tarDir(d2, `${d2}.tar`), /could not be read: tar: archive truncated/);
  // corrupt gzip
  const d3 = path.join(dir, 'broken-gzip');
  const t3 = toOciLayout(planted.legacyDir, d3, { compression: 'gzip', dockerManifest: false });
  const f3 = path.join(d3, t3.layers[0]);
  const g = fs.readFileSync(f3);
  g.fill(0x41, 20, Math.min(g.length - 8, 200));
  fs.writeFileSync(f3, g);
  expectFail('a corrupt gzip layer', tarDir(d3, `${d3}.tar`), /could not be read/);
  // zero layers listed
  const d4 = path.join(dir, 'broken-empty');
  fs.mkdirSync(d4);
  fs.writeFileSync(path.join(d4, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['x:latest'], Layers: [] }]));
  fs.writeFileSync(path.join(d4, 'c.json'), '{}');
  expectFail('zero layers listed', tarDir(d4, `${d4}.tar`), /zero layers/);
  // layer.tar files but no manifest: never globbed
  const d5 = path.join(dir, 'broken-nomanifest');
  fs.mkdirSync(path.join(d5, 'abc'), { recursive: true });
  fs.copyFileSync(path.join(planted.legacyDir, JSON.parse(fs.readFileSync(path.join(planted.legacyDir, 'manifest.json'), 'utf8'))[0].Layers[1]), path.join(d5, 'abc', 'layer.tar'));
  expectFail('no manifest.json nor index.json', tarDir(d5, `${d5}.tar`), /neither manifest.json nor index.json/);
  // docker save itself failing
  const r = run('flock', ['-w', '900', LOCK, 'bash', PROBE, `${TAG}/does-not-exist:latest`, needleFile]);
  t.equal(r.code, 2, 'docker save of a missing image: exit 2', { err: r.stderr });
  t.equal(r.stdout, '', 'docker save of a missing image: no count on stdout');
});

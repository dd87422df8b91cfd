import fs from 'node:fs';
import { ensureRootDir, readNoFollow, writeIfChanged } from './atomic-file';
import { randomSerial } from './tls-issuer';
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { childProcessRunner } from './child-process-runner';
import { CommandFailed, RunResult } from '../ports/process-runner';
import type { CsrFacts } from '../core/csr-policy';

/**
 * Certificate requests with the openssl CLI: a proxy makes its key and CSR in
 * its own volume; a data node (which holds the CA key) reads the CSR's facts,
 * checks them with core/csr-policy.ts and signs with its own extensions.
 */
async function openssl(args: string[], input?: string): Promise<RunResult> {
  return childProcessRunner.run('openssl', args, { timeoutMs: 30000, input });
}

async function must(args: string[], input?: string): Promise<string> {
  const r = await openssl(args, input);
  if (r.code !== 0) throw new CommandFailed(`openssl ${args[0]}`, r);
  return r.stdout;
}

/**
 * Proxy side: key (generated once in `dir`, 0600, handed to `owner` on its descriptor) and a CSR for
 * exactly CN=name, DNS:name. `dir` is made root-owned (src/adapters/atomic-file.ts): PgBouncer's user
 * reads its key but can neither replace nor redirect anything here.
 */
export async function makeKeyAndCsr(dir: string, name: string, owner?: { uid: number; gid: number }): Promise<{ key: string; csr: string }> {
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  ensureRootDir(dir);
  const key = path.join(dir, 'server.key');
  let pem = readNoFollow(key);
  if (pem === null || !pem.includes('PRIVATE KEY')) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-key-'));
    try {
      await must(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(work, 'key.pem')]);
      pem = fs.readFileSync(path.join(work, 'key.pem'), 'utf8');
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  writeIfChanged(key, pem, 0o600, owner);
  const csr = await must(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`]);
  return { key, csr };
}

/** Node side: what the CSR asks for (nothing is trusted before checkProxyCsr). */
export async function readCsrFacts(csrPem: string): Promise<CsrFacts> {
  const verify = await openssl(['req', '-noout', '-verify'], csrPem);
  const subj = await openssl(['req', '-noout', '-subject', '-nameopt', 'RFC2253'], csrPem);
  const text = await openssl(['req', '-noout', '-text', '-nameopt', 'RFC2253'], csrPem);
  if (subj.code !== 0 || text.code !== 0) return { signatureOk: false, subject: [], dnsNames: [], ipAddresses: [], otherNames: [], requestsCa: false };
  const subjectLine = subj.stdout.trim().replace(/^subject=\s*/, '');
  // RFC 2253 separates attributes with unescaped commas
  const subject = subjectLine ? subjectLine.split(/(?<!\\),/).map((x) => x.trim()) : [];
  const lines = text.stdout.split('\n');
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const otherNames: string[] = [];
  const sanAt = lines.findIndex((l) => /X509v3 Subject Alternative Name/.test(l));
  if (sanAt >= 0) {
    for (const e of (lines[sanAt + 1] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      if (e.startsWith('DNS:')) dnsNames.push(e.slice(4));
      else if (e.startsWith('IP Address:')) ipAddresses.push(e.slice(11));
      else otherNames.push(e);
    }
  }
  const requestsCa = lines.some((l) => /CA:TRUE/.test(l));
  return { signatureOk: verify.code === 0, subject, dnsNames, ipAddresses, otherNames, requestsCa };
}

/** Node side: signs a checked CSR with our own extensions only (the CSR's are never copied). */
export async function signProxyCsr(o: { csrPem: string; names: string[]; caCert: string; caKey: string; days?: number }): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-csr-'));
  try {
    const san = o.names.map((a) => (isIP(a) ? `IP:${a}` : `DNS:${a}`)).join(',');
    const ext = path.join(dir, 'ext');
    fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
    return await must(['x509', '-req', '-CA', o.caCert, '-CAkey', o.caKey, '-set_serial', randomSerial(),
      '-days', String(o.days ?? 90), '-sha256', '-extfile', ext], o.csrPem);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Seconds until the certificate expires (negative if it already has); null if unreadable. */
export async function certificateSecondsLeft(certFile: string): Promise<number | null> {
  const r = await openssl(['x509', '-noout', '-enddate', '-in', certFile]);
  const m = /notAfter=(.*)/.exec(r.stdout);
  if (r.code !== 0 || !m) return null;
  return Math.floor((Date.parse(m[1]) - Date.now()) / 1000);
}

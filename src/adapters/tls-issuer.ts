import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { ensureRootDir, readNoFollow, writeFileExclusive, writeIfChanged } from './atomic-file';
import { isIP } from 'node:net';
import { childProcessRunner } from './child-process-runner';
import { CommandFailed } from '../ports/process-runner';

/**
 * Certificates with the openssl CLI. A node's TLS key is generated in its own
 * volume and never leaves it; the certificate is issued locally from the CA
 * whose key the node is given as a Docker secret.
 */

async function openssl(args: string[], input?: string): Promise<string> {
  const r = await childProcessRunner.run('openssl', args, { timeoutMs: 30000, input });
  if (r.code !== 0) throw new CommandFailed(`openssl ${args[0]}`, r);
  return r.stdout;
}

/** Creates a CA (key + self-signed cert) in `dir`: ca.key (0600) and ca.crt. Used by the CLI and tests. */
export async function createCa(dir: string, commonName = 'pgswarm cluster CA', days = 3650): Promise<{ cert: string; key: string }> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.join(dir, 'ca.key');
  const cert = path.join(dir, 'ca.crt');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  fs.chmodSync(key, 0o600);
  await openssl(['req', '-x509', '-new', '-key', key, '-sha256', '-days', String(days), '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert]);
  return { cert, key };
}

export interface IssueRequest {
  dir: string;
  name: string;
  /** Host names and IP addresses the certificate must be valid for. */
  altNames: string[];
  caCert: string;
  caKey: string;
  owner?: { uid: number; gid: number };
  days?: number;
  /** 'server' (also usable as a client cert) */
}

export interface Issued {
  cert: string;
  key: string;
  ca: string;
  /** true when a new certificate was written (callers reload the server). */
  changed: boolean;
  reason: string;
}

function sanLine(altNames: string[]): string {
  const uniq = [...new Set(altNames.filter((a) => a !== ''))].sort();
  return uniq.map((a) => (isIP(a.replace(/^\[|\]$/g, '')) ? `IP:${a.replace(/^\[|\]$/g, '')}` : `DNS:${a}`)).join(',');
}

/** A positive 128-bit serial from the system's CSPRNG (RFC 5280: at most 20 octets, positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return '0x' + b.toString('hex');
}

/**
 * Ensures `dir` holds a key (generated here once) and a certificate for it signed by the given CA
 * with exactly these names, valid for 30+ more days. Re-issues (same key) when the names, the CA or
 * the expiry call for it. `dir` is made root-owned 0755 (when run as root): the run user gets its
 * key as a 0600 file it owns, but can neither replace nor redirect anything written here
 * (src/adapters/atomic-file.ts). openssl works in a private temp directory.
 */
export async function ensureCertificate(req: IssueRequest): Promise<Issued> {
  ensureRootDir(req.dir);
  const key = path.join(req.dir, 'server.key');
  const cert = path.join(req.dir, 'server.crt');
  const ca = path.join(req.dir, 'ca.crt');
  const sanFile = path.join(req.dir, 'server.san');
  const san = sanLine([req.name, ...req.altNames]);
  const caPem = fs.readFileSync(req.caCert, 'utf8');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgswarm-tls-'));
  try {
    let reason = '';
    let keyPem = readNoFollow(key);
    if (keyPem === null || !keyPem.includes('PRIVATE KEY')) {
      const tmpKey = path.join(work, 'key.pem');
      await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmpKey]);
      keyPem = fs.readFileSync(tmpKey, 'utf8');
      reason = 'no key yet: generated one in this volume';
    }
    // The key file goes (back) to its owner through a descriptor; an unchanged key keeps its inode.
    writeIfChanged(key, keyPem, 0o600, req.owner);
    const certPem = readNoFollow(cert);
    if (reason) { /* new key: new certificate */ }
    else if (certPem === null) reason = 'no certificate yet';
    else if (readNoFollow(sanFile) !== san) reason = 'names changed';
    else if (readNoFollow(ca) !== caPem) reason = 'CA changed (rotation)';
    else {
      const current = path.join(work, 'current.crt');
      fs.writeFileSync(current, certPem, { mode: 0o600 });
      const verify = await childProcessRunner.run('openssl', ['verify', '-CAfile', req.caCert, current]);
      if (verify.code !== 0) reason = 'certificate not signed by the current CA';
      else {
        const end = await childProcessRunner.run('openssl', ['x509', '-checkend', String(30 * 86400), '-noout', '-in', current]);
        if (end.code !== 0) reason = 'certificate expires within 30 days';
      }
    }
    if (reason) {
      const keyCopy = path.join(work, 'key.pem');
      fs.writeFileSync(keyCopy, keyPem, { mode: 0o600 });
      const csr = await openssl(['req', '-new', '-key', keyCopy, '-subj', `/CN=${req.name}`]);
      const ext = path.join(work, 'server.ext');
      fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`);
      const pem = await openssl(['x509', '-req', '-CA', req.caCert, '-CAkey', req.caKey, '-set_serial', randomSerial(), '-days', String(req.days ?? 397), '-sha256', '-extfile', ext], csr);
      writeFileExclusive(cert, pem, 0o644);
      writeFileExclusive(ca, caPem, 0o644);
      writeFileExclusive(sanFile, san, 0o644);
    }
    return { cert, key, ca, changed: reason !== '', reason: reason || 'certificate valid' };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

import fs from 'node:fs';
import path from 'node:path';
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

/**
 * Ensures `dir` holds a key (generated here once, 0600) and a certificate for
 * it signed by the given CA with exactly these names, valid for 30+ more days.
 * Re-issues (same key) when the names, the CA or the expiry call for it.
 */
export async function ensureCertificate(req: IssueRequest): Promise<Issued> {
  fs.mkdirSync(req.dir, { recursive: true, mode: 0o700 });
  const key = path.join(req.dir, 'server.key');
  const cert = path.join(req.dir, 'server.crt');
  const ca = path.join(req.dir, 'ca.crt');
  const san = sanLine([req.name, ...req.altNames]);
  const sanFile = path.join(req.dir, 'server.san');
  let reason = '';
  if (!fs.existsSync(key)) {
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    fs.chmodSync(key, 0o600);
    reason = 'no key yet: generated one in the node volume';
  } else if (!fs.existsSync(cert)) reason = 'no certificate yet';
  else if (!fs.existsSync(sanFile) || fs.readFileSync(sanFile, 'utf8') !== san) reason = 'names changed';
  else if (!fs.existsSync(ca) || fs.readFileSync(ca, 'utf8') !== fs.readFileSync(req.caCert, 'utf8')) reason = 'CA changed (rotation)';
  else {
    const verify = await childProcessRunner.run('openssl', ['verify', '-CAfile', req.caCert, cert]);
    if (verify.code !== 0) reason = 'certificate not signed by the current CA';
    else {
      const end = await childProcessRunner.run('openssl', ['x509', '-checkend', String(30 * 86400), '-noout', '-in', cert]);
      if (end.code !== 0) reason = 'certificate expires within 30 days';
    }
  }
  if (reason) {
    const csr = await openssl(['req', '-new', '-key', key, '-subj', `/CN=${req.name}`]);
    const ext = path.join(req.dir, 'server.ext');
    fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`);
    const serial = '0x' + Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('hex');
    const pem = await openssl(['x509', '-req', '-CA', req.caCert, '-CAkey', req.caKey, '-set_serial', serial, '-days', String(req.days ?? 397), '-sha256', '-extfile', ext], csr);
    fs.writeFileSync(cert + '.new', pem);
    fs.renameSync(cert + '.new', cert);
    fs.copyFileSync(req.caCert, ca);
    fs.writeFileSync(sanFile, san);
  }
  if (req.owner) {
    for (const f of [req.dir, key, cert, ca]) fs.chownSync(f, req.owner.uid, req.owner.gid);
  }
  fs.chmodSync(key, 0o600);
  return { cert, key, ca, changed: reason !== '', reason: reason || 'certificate valid' };
}

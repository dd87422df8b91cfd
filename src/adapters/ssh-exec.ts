import { Client, ConnectConfig } from 'ssh2';
import { createHostVerifier, KnownHostEntry } from '../core/host-verifier';
import { fingerprintOfBlob } from '../core/ssh-public-key';

/** The server presented a host key that is not in known_hosts for the name and port dialled. */
export class HostKeyRejected extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly presentedFingerprint: string,
  ) {
    super(`host key of ${host}:${port} (${presentedFingerprint}) is not in the registry's known_hosts: refused`);
    this.name = 'HostKeyRejected';
  }
}

export class SshTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshTimeout';
  }
}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key contents (read from the local key file; never logged). */
  privateKey: Buffer | string;
  knownHosts: readonly KnownHostEntry[];
  /** TCP connect + SSH handshake limit, ms (default 3000). */
  connectTimeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** ssh2 connect options with strict host-key checking and a short handshake timeout. */
export function connectConfig(t: SshTarget, onReject: (fp: string) => void): ConnectConfig {
  return {
    host: t.host,
    port: t.port,
    username: t.user,
    privateKey: t.privateKey,
    readyTimeout: t.connectTimeoutMs ?? 3000,
    keepaliveInterval: 0,
    tryKeyboard: false,
    hostVerifier: createHostVerifier(t.knownHosts, t.host, t.port, (r) => {
      if (!r.accepted) onReject(r.presented ? fingerprintOfBlob(Buffer.from(r.presented, 'base64')) : 'none');
    }),
  };
}

/** Opens a verified connection; rejects with HostKeyRejected for an unknown host key. */
export function connect(t: SshTarget): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let rejectedFp: string | null = null;
    let settled = false;
    const done = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) {
        c.end();
        reject(err);
      } else resolve(c);
    };
    c.on('ready', () => done(null));
    c.on('error', (err: Error) => {
      if (rejectedFp !== null) done(new HostKeyRejected(t.host, t.port, rejectedFp));
      else if (/Timed out while waiting for handshake/.test(err.message)) done(new SshTimeout(`ssh ${t.host}:${t.port}: ${err.message}`));
      else done(err);
    });
    c.on('close', () => done(rejectedFp !== null ? new HostKeyRejected(t.host, t.port, rejectedFp) : new Error(`ssh ${t.host}:${t.port}: connection closed`)));
    c.connect(connectConfig(t, (fp) => { rejectedFp = fp; }));
  });
}

/** Runs one command on a connected client and collects its output, bounded by timeoutMs. */
export function execOn(c: Client, command: string, timeoutMs = 10_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new SshTimeout(`command did not finish within ${timeoutMs} ms`)), timeoutMs);
    c.exec(command, (err, stream) => {
      if (err) {
        clearTimeout(timer);
        reject(err);
        return;
      }
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | null = null;
      stream.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
      stream.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      stream.on('exit', (c2: number | null, s?: string) => { code = c2; signal = s ?? null; });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  });
}

/** Connect, verify the host key, run one command, disconnect. */
export async function sshExec(t: SshTarget, command: string, timeoutMs = 10_000): Promise<ExecResult> {
  const c = await connect(t);
  try {
    return await execOn(c, command, timeoutMs);
  } finally {
    c.end();
  }
}

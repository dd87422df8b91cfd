/**
 * Pure: what counts as a secret in an image.
 *
 * In a layer's files (one finding per file and kind, as the old shell probe):
 * - `secret`: one of the operator's fixed strings (passwords, tokens, keys);
 * - `private-key`: a PEM/OpenSSH private key header followed by a real base64
 *   body (a header alone is a string constant in libraries and the ssh2
 *   module); ELF binaries are skipped for this check (vendor self-test keys);
 * - `key-file`: a non-empty regular file named like a private key
 *   (ssh_host_*_key, *.key, id_rsa, id_ed25519, …).
 * In the image config (Env, Cmd, Entrypoint, Labels, Healthcheck, history):
 * - `config-secret`: one of the fixed strings;
 * - `config-private-key`: a private key header (no body needed: a config has
 *   no library constants);
 * - `config-secret-env`: NAME=value with a secret-looking name
 *   (PASSWORD, TOKEN, SECRET…, not …_FILE) and a literal value.
 */

export type FileFindingKind = 'secret' | 'private-key' | 'key-file';
export type ConfigFindingKind = 'config-secret' | 'config-private-key' | 'config-secret-env';

export const PEM_PRIVATE_HEADER = /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----/g;
const BASE64_LINE = /^[A-Za-z0-9+/=]{60,}$/;

/** Fixed strings, one a line; blank lines ignored (an empty pattern would match every file). */
export function parseNeedles(text: string): string[] {
  return [...new Set(text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== ''))];
}

export function isKeyFileName(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base.startsWith('.wh.')) return false; // whiteout marker, no content
  return /^ssh_host_.*_key$/.test(base) || /\.key$/.test(base) || /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/.test(base) || /^id_(ecdsa|ed25519)-sk$/.test(base);
}

/** True when some private key header in `text` is followed by a real base64 body. */
export function hasPrivateKeyWithBody(text: string): boolean {
  PEM_PRIVATE_HEADER.lastIndex = 0;
  for (let m = PEM_PRIVATE_HEADER.exec(text); m; m = PEM_PRIVATE_HEADER.exec(text)) {
    const after = text.slice(m.index + m[0].length, m.index + m[0].length + 2048);
    // Lines end with a newline, or with a literal "\n" inside a JS/JSON string.
    const lines = after.split(/\r?\n|\\(?:r\\)?n/).slice(1);
    for (const raw of lines) {
      const line = raw.trim();
      if (line === '' || /^[A-Za-z-]+: /.test(line)) continue; // RFC 1421 headers (Proc-Type, DEK-Info)
      if (BASE64_LINE.test(line)) return true;
      break;
    }
  }
  return false;
}

const WINDOW = 32 * 1024 * 1024;
const OVERLAP = 64 * 1024;

/**
 * One file's content, fed in chunks. Scans windows of up to 32 MiB that
 * overlap by 64 KiB, so a needle or key split across chunks is still seen
 * (needles longer than 64 KiB are refused by the caller).
 */
export class ContentScanner {
  private buf: Buffer[] = [];
  private len = 0;
  private head = Buffer.alloc(0);
  readonly found = new Set<FileFindingKind>();

  constructor(private readonly needles: Buffer[]) {}

  feed(chunk: Buffer): void {
    if (this.head.length < 4) this.head = Buffer.concat([this.head, chunk.subarray(0, 4 - this.head.length)]);
    this.buf.push(Buffer.from(chunk));
    this.len += chunk.length;
    if (this.len >= WINDOW) {
      const all = Buffer.concat(this.buf);
      this.scan(all);
      const keep = all.subarray(Math.max(0, all.length - OVERLAP));
      this.buf = [keep];
      this.len = keep.length;
    }
  }

  end(): Set<FileFindingKind> {
    if (this.len > 0) this.scan(Buffer.concat(this.buf));
    this.buf = [];
    this.len = 0;
    return this.found;
  }

  private scan(b: Buffer): void {
    if (!this.found.has('secret') && this.needles.some((n) => b.indexOf(n) !== -1)) this.found.add('secret');
    const elf = this.head[0] === 0x7f && this.head[1] === 0x45 && this.head[2] === 0x4c && this.head[3] === 0x46;
    if (!elf && !this.found.has('private-key') && b.indexOf('PRIVATE KEY-----') !== -1 && hasPrivateKeyWithBody(b.toString('latin1'))) {
      this.found.add('private-key');
    }
  }
}

const SECRET_NAME = /(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|CREDENTIAL)/i;
const NOT_A_VALUE = /_(FILE|PATH|DIR|DIRECTORY)$/i;

/** NAME=value pairs in `s` whose name looks secret and whose value is a literal. */
export function secretAssignments(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/(?:^|[\s"'|;&])([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/g)) {
    const [, name, rawValue] = m;
    const value = rawValue.replace(/^["']|["']$/g, '');
    if (!SECRET_NAME.test(name) || NOT_A_VALUE.test(name)) continue;
    if (value === '' || value.startsWith('$') || value.startsWith('/run/secrets/')) continue;
    out.push(name);
  }
  return out;
}

export interface ConfigFinding {
  field: string;
  kind: ConfigFindingKind;
  /** what matched, never the secret itself */
  detail: string;
}

/** The strings of an image config a secret could hide in, with their field names. */
export function configStrings(cfg: any): { field: string; value: string; env: boolean }[] {
  const out: { field: string; value: string; env: boolean }[] = [];
  const strings = (field: string, v: unknown, env = false) => {
    if (typeof v === 'string') out.push({ field, value: v, env });
    else if (Array.isArray(v)) v.forEach((x, i) => strings(`${field}[${i}]`, x, env));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) strings(`${field}.${k}`, x, env);
  };
  for (const top of ['config', 'container_config']) {
    const c = cfg?.[top];
    if (!c || typeof c !== 'object') continue;
    strings(`${top}.Env`, c.Env, true);
    strings(`${top}.Cmd`, c.Cmd);
    strings(`${top}.Entrypoint`, c.Entrypoint);
    strings(`${top}.Labels`, c.Labels);
    strings(`${top}.Healthcheck`, c.Healthcheck?.Test);
    strings(`${top}.OnBuild`, c.OnBuild);
  }
  if (Array.isArray(cfg?.history)) {
    cfg.history.forEach((h: any, i: number) => {
      strings(`history[${i}].created_by`, h?.created_by, true);
      strings(`history[${i}].comment`, h?.comment);
    });
  }
  return out;
}

export function scanConfig(cfg: any, needles: string[]): ConfigFinding[] {
  const out: ConfigFinding[] = [];
  for (const { field, value, env } of configStrings(cfg)) {
    const hit = needles.findIndex((n) => value.includes(n));
    if (hit !== -1) out.push({ field, kind: 'config-secret', detail: `fixed string #${hit + 1} of the needle file` });
    PEM_PRIVATE_HEADER.lastIndex = 0;
    if (PEM_PRIVATE_HEADER.test(value)) out.push({ field, kind: 'config-private-key', detail: 'private key header' });
    if (env) for (const name of secretAssignments(value)) out.push({ field, kind: 'config-secret-env', detail: `${name}=<literal value>` });
  }
  return out;
}

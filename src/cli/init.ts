/**
 * pgswarm init: creates the cluster's secrets (signing key, CA, passwords,
 * the proxies' join tokens) as Docker secrets, keeping the operator's copy in
 * a local 0700 directory (files 0600) so tokens can be minted later. Refuses
 * to replace an existing cluster's secrets without --force.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateSigningKeyPair } from '../core/signing';
import { createToken, decodeTokenUnverified } from '../core/join-token';
import { createCa } from '../adapters/tls-issuer';
import { CliContext, CliError, writeLocal } from './context';
import { DEFAULT_PROXIES, initPlan, KEY_LABEL, SECRET_SPECS, secretName, STACK_LABEL, TOKENS_FILE, VERIFY_KEY_FILE } from './cluster-secrets';
import { parseDurationSeconds } from './args';

export interface TokenRecord {
  id: string;
  name: string;
  exp: number;
  createdAt: string;
  revoked?: string;
}

export function readTokens(dir: string): TokenRecord[] {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, TOKENS_FILE), 'utf8')) as TokenRecord[];
  } catch {
    return [];
  }
}

export function recordToken(dir: string, token: string): TokenRecord {
  const p = decodeTokenUnverified(token) ?? {};
  const rec: TokenRecord = { id: String(p.id), name: String(p.name), exp: Number(p.exp), createdAt: new Date().toISOString() };
  const all = readTokens(dir).filter((t) => t.id !== rec.id);
  all.push(rec);
  writeLocal(dir, TOKENS_FILE, JSON.stringify(all, null, 2));
  return rec;
}

function password(): string {
  return randomBytes(24).toString('base64url');
}

/** Generates every local file of a new cluster (overwriting with --force). */
async function generate(dir: string, tokenTtl: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const kp = generateSigningKeyPair();
  writeLocal(dir, 'signing.key', kp.secretKey);
  writeLocal(dir, VERIFY_KEY_FILE, kp.publicKey);
  for (const f of ['ca.key', 'ca.crt']) fs.rmSync(path.join(dir, f), { force: true });
  await createCa(dir, 'pgswarm cluster CA');
  fs.chmodSync(path.join(dir, 'ca.key'), 0o600);
  fs.chmodSync(path.join(dir, 'ca.crt'), 0o600);
  for (const spec of SECRET_SPECS) if (spec.password) writeLocal(dir, spec.file, password());
  fs.rmSync(path.join(dir, TOKENS_FILE), { force: true });
  for (const p of DEFAULT_PROXIES) {
    const tok = createToken({ kind: 'proxy', name: p.name, ttlSeconds: tokenTtl }, kp.secretKey, Date.now());
    const spec = SECRET_SPECS.find((s) => s.key === p.token)!;
    writeLocal(dir, spec.file, tok);
    recordToken(dir, tok);
  }
}

/** Returns true when something was created. `ensure` (used by up) accepts a complete existing cluster. */
export async function runInit(ctx: CliContext, opts: { ensure?: boolean } = {}): Promise<boolean> {
  await ctx.docker.requireSwarmManager();
  const ttl = parseDurationSeconds(String(ctx.flags['token-ttl'] ?? '7d'));
  if (ttl === null) throw new CliError('--token-ttl: use e.g. 3600, 90m, 12h, 7d');
  const localFiles = fs.existsSync(ctx.dir) ? fs.readdirSync(ctx.dir) : [];
  const dockerSecrets = await ctx.docker.secretNames();
  const stackRunning = (await ctx.docker.stackServices(ctx.stack)).length > 0;
  const plan = initPlan({ localFiles, dockerSecrets, stack: ctx.stack, force: ctx.flags.force === true, stackRunning });
  if (plan.action === 'refuse') {
    if (opts.ensure && plan.missing.length === 0) {
      if (!localFiles.includes(VERIFY_KEY_FILE) || !localFiles.includes('signing.key')) {
        throw new CliError(`init: the Docker secrets of ${ctx.stack} exist but ${ctx.dir} has no copy of them (verify.key, signing.key): pass --dir with the cluster's directory, or "pgswarm init --force" (stack down) to start over`);
      }
      ctx.err(`[init] cluster ${ctx.stack}: secrets exist, keeping them`);
      return false;
    }
    throw new CliError(`init: ${plan.reason}`);
  }
  ctx.err(`[init] ${plan.reason}`);
  if (plan.action === 'create' || plan.action === 'recreate') {
    if (plan.action === 'recreate') {
      for (const s of SECRET_SPECS) {
        const n = secretName(ctx.stack, s.key);
        if (dockerSecrets.includes(n)) await ctx.docker.removeSecret(n);
      }
    }
    await generate(ctx.dir, ttl);
  }
  // A password added to the product later (its role is new): generate it for an existing cluster.
  for (const spec of SECRET_SPECS) {
    if (spec.password && !fs.existsSync(path.join(ctx.dir, spec.file))) {
      writeLocal(ctx.dir, spec.file, password());
      ctx.err(`[init] generated ${spec.file} (${spec.what})`);
    }
  }
  const now = await ctx.docker.secretNames();
  for (const s of SECRET_SPECS) {
    const n = secretName(ctx.stack, s.key);
    if (now.includes(n)) continue;
    const data = fs.readFileSync(path.join(ctx.dir, s.file));
    await ctx.docker.createSecret(n, data, { [STACK_LABEL]: ctx.stack, [KEY_LABEL]: s.key });
    ctx.err(`[init] created Docker secret ${n} (${s.what})`);
  }
  ctx.err(`[init] local copy (signing key, CA key, passwords) in ${ctx.dir} (mode 0700/0600); keep it safe`);
  return true;
}

/** What every command shares: the stack name, the local cluster directory, the Docker client, output. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerClient } from '../adapters/docker';
import { ParsedArgs } from './args';

export interface CliContext {
  stack: string;
  dir: string;
  repoRoot: string;
  docker: DockerClient;
  flags: Record<string, string | boolean>;
  positionals: string[];
  sub?: string;
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

/** A failure the user can act on: printed without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function defaultDir(stack: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.PGSWARM_CONFIG_HOME ?? path.join(env.HOME || os.homedir(), '.pgswarm');
  return path.join(home, stack);
}

export function makeContext(a: ParsedArgs, repoRoot: string): CliContext {
  const stack = String(a.flags.stack ?? 'pgswarm');
  return {
    stack,
    dir: typeof a.flags.dir === 'string' ? path.resolve(a.flags.dir) : defaultDir(stack),
    repoRoot,
    docker: new DockerClient(),
    flags: a.flags,
    positionals: a.positionals,
    sub: a.sub,
    out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
    err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
    env: process.env,
  };
}

/** Reads a file of the local cluster directory, with a clear error when it is missing. */
export function readLocal(ctx: CliContext, file: string): string {
  const p = path.join(ctx.dir, file);
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    throw new CliError(`${p} is missing: run "pgswarm init --stack ${ctx.stack}" first (or pass --dir where the cluster's files are)`);
  }
}

/** Writes a local secret file: directory 0700, file 0600, replaced atomically. */
export function writeLocal(dir: string, file: string, content: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const p = path.join(dir, file);
  const tmp = `${p}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content.endsWith('\n') ? content : `${content}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, p);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

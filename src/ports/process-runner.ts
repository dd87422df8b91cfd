export interface RunOptions {
  /** Run as this OS user (resolved to uid/gid); default: the current user. */
  user?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ProcessRunner {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** A command that failed; its output has secrets scrubbed. Fatal unless the caller retries. */
export class CommandFailed extends Error {
  constructor(public readonly cmd: string, public readonly result: RunResult) {
    super(`${cmd} failed (exit ${result.code ?? result.signal}): ${(result.stderr || result.stdout).trim().split('\n').slice(-8).join(' | ')}`);
  }
}

import { spawn } from 'node:child_process';
import type { ProcessRunner, RunOptions, RunResult } from '../ports/process-runner';
import { lookupUser } from './os-users';
import { scrubText } from '../core/log';

/** Runs a command to completion, capturing (scrubbed) output; optional user switch, timeout and stdin. */
export const childProcessRunner: ProcessRunner = {
  run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const ids = opts.user && process.getuid?.() === 0 ? lookupUser(opts.user) : undefined;
      const child = spawn(cmd, args as string[], {
        cwd: opts.cwd ?? '/',
        env: { ...(opts.env ?? process.env), ...(ids ? { HOME: ids.home, USER: opts.user, LOGNAME: opts.user } : {}) } as NodeJS.ProcessEnv,
        uid: ids?.uid,
        gid: ids?.gid,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      let timer: NodeJS.Timeout | undefined;
      if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        resolve({ code: 127, signal: null, stdout, stderr: stderr + String(e) });
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, signal, stdout: scrubText(stdout), stderr: scrubText(stderr) });
      });
      child.stdin.on('error', () => undefined);
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  },
};

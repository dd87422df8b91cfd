#!/usr/bin/env node
/** pgswarm: the operator CLI (see src/cli/commands.ts and docs/operations.md). */
import path from 'node:path';
import { parseArgs, helpText } from '../cli/args';
import { COMMANDS } from '../cli/commands';
import { CliError, makeContext } from '../cli/context';
import { DockerUnavailable } from '../adapters/docker';
import { runUp } from '../cli/up';
import { runInit } from '../cli/init';
import { deployStack, waitHealthy } from '../cli/deploy';
import { runStatus } from '../cli/status';
import { runSwitchover } from '../cli/switchover';
import { runToken } from '../cli/token';
import { runLogs } from '../cli/logs';
import { runDown } from '../cli/down';
import { ensureAppRole } from '../cli/app-role';

// dist/src/bin/pgswarm.js -> the repository (compose/, scripts/).
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv, COMMANDS);
  if (a.errors.length) {
    for (const e of a.errors) process.stderr.write(`pgswarm: ${e}\n`);
    process.stderr.write(`\n${helpText(COMMANDS, a.command)}\n`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(`${helpText(COMMANDS, a.command)}\n`);
    return 0;
  }
  const ctx = makeContext(a, REPO_ROOT);
  switch (a.command) {
    case 'up':
      await runUp(ctx);
      return 0;
    case 'init':
      await runInit(ctx);
      return 0;
    case 'deploy':
      await runInit(ctx, { ensure: true });
      await deployStack(ctx);
      if (ctx.flags.wait === true) {
        await waitHealthy(ctx, Number(ctx.flags.timeout) * 1000);
        await ensureAppRole(ctx);
      }
      return 0;
    case 'status':
      return runStatus(ctx);
    case 'switchover':
      await runSwitchover(ctx);
      return 0;
    case 'token':
      await runToken(ctx);
      return 0;
    case 'logs':
      await runLogs(ctx);
      return 0;
    case 'down':
      await runDown(ctx);
      return 0;
    default:
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof CliError || e instanceof DockerUnavailable) process.stderr.write(`pgswarm: ${e.message}\n`);
    else process.stderr.write(`pgswarm: unexpected error: ${(e as Error).stack ?? e}\n`);
    process.exit(e instanceof CliError ? e.exitCode : 1);
  },
);

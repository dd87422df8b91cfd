/** Command line of bench:idle. Pure, so it is unit-tested. */
export interface BenchIdleArgs {
  seconds: number;
  settle: number;
  deploy: boolean;
  /** Leave the stack running at the end (the default). */
  keep: boolean;
  stack: string;
  timeout: number;
  help: boolean;
}

export const BENCH_IDLE_USAGE = `usage: npm run bench:idle -- [--seconds N] [--settle N] [--no-deploy] [--keep | --down] [--stack NAME] [--timeout N]
  --seconds N   length of the measurement window [60]
  --settle N    seconds to wait after the stack is healthy and routing, before measuring [10]
  --no-deploy   measure the stack that is already running (no pgswarm up)
  --keep        leave the stack running at the end (the default: a redeploy costs minutes;
                the command to remove it is printed)
  --down        remove the stack at the end (pgswarm down: volumes and secrets kept)
  --stack NAME  stack name [pgswarm, like npm run up]; ports from PGSWARM_PORT/PGSWARM_PORT2 [5432/5433]
  --timeout N   seconds for pgswarm up to reach health, and for the stack to route a write [600]`;

export function parseBenchIdleArgs(argv: readonly string[]): { args: BenchIdleArgs; errors: string[] } {
  const args: BenchIdleArgs = { seconds: 60, settle: 10, deploy: true, keep: true, stack: 'pgswarm', timeout: 600, help: false };
  const errors: string[] = [];
  let keepSeen = false;
  let downSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const eq = raw.indexOf('=');
    const name = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) {
        errors.push(`${name} needs a value`);
        return undefined;
      }
      i++;
      return v;
    };
    const num = (min: number): number | undefined => {
      const v = value();
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) {
        errors.push(`${name}: expected a number >= ${min}, got "${v}"`);
        return undefined;
      }
      return n;
    };
    switch (name) {
      case '--seconds': args.seconds = num(1) ?? args.seconds; break;
      case '--settle': args.settle = num(0) ?? args.settle; break;
      case '--timeout': args.timeout = num(1) ?? args.timeout; break;
      case '--stack': {
        const v = value();
        if (v !== undefined && !/^[a-z][a-z0-9_-]{0,30}$/.test(v)) errors.push(`--stack: must be lowercase letters, digits, - or _ (got "${v}")`);
        else if (v !== undefined) args.stack = v;
        break;
      }
      case '--no-deploy': args.deploy = false; break;
      case '--keep': keepSeen = true; args.keep = true; break;
      case '--down': downSeen = true; args.keep = false; break;
      case '--help': case '-h': args.help = true; break;
      default: errors.push(`unknown argument ${raw}`);
    }
    if (inline !== undefined && ['--no-deploy', '--keep', '--down', '--help'].includes(name)) errors.push(`${name} takes no value`);
  }
  if (keepSeen && downSeen) errors.push('--keep and --down exclude each other');
  return { args, errors };
}

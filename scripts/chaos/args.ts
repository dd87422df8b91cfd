/** Pure: `npm run chaos -- --runs N --scenario a,b --keep --results DIR` parsed, every error at once. */

export interface ChaosArgs {
  runs: number;
  scenarios: string[];
  resultsDir: string;
  /** leave the stack deployed at the end */
  keep: boolean;
  /** deploy a fresh stack (down --volumes) before the first swarm scenario */
  fresh: boolean;
  help: boolean;
}

export function parseChaosArgs(argv: string[], known: string[], defaults: { scenarios: string[]; resultsDir: string }): { args: ChaosArgs; errors: string[] } {
  const errors: string[] = [];
  const args: ChaosArgs = { runs: 3, scenarios: defaults.scenarios, resultsDir: defaults.resultsDir, keep: false, fresh: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--runs': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) errors.push(`--runs: expected a whole number >= 1, got ${JSON.stringify(v)}`);
        else args.runs = n;
        break;
      }
      case '--scenario':
      case '--scenarios': {
        const v = value() ?? '';
        const list = v.split(',').map((s) => s.trim()).filter(Boolean);
        if (list.length === 0) errors.push('--scenario: expected a comma-separated list');
        const unknown = list.filter((s) => s !== 'all' && !known.includes(s));
        if (unknown.length) errors.push(`--scenario: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
        args.scenarios = list.includes('all') ? [...known] : list;
        break;
      }
      case '--results':
        args.resultsDir = value() ?? '';
        if (!args.resultsDir) errors.push('--results: expected a directory');
        break;
      case '--keep':
        args.keep = true;
        break;
      case '--fresh':
        args.fresh = true;
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        errors.push(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return { args, errors };
}

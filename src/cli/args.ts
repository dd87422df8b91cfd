/**
 * Pure command-line parsing for the operator CLI: `pgswarm <command> [sub]
 * [--flag value | --flag=value | --switch] [positionals]`. Every problem is
 * returned at once; nothing here touches the outside world.
 */
export interface FlagSpec {
  name: string;
  /** 'switch' takes no value; 'value' takes one. */
  kind: 'switch' | 'value';
  help: string;
  default?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Allowed sub-commands (e.g. token create|revoke|list); empty when none. */
  subs?: readonly string[];
  flags: readonly FlagSpec[];
  /** Names of positional arguments, for help; `min`/`max` count them. */
  positionals?: { names: string; min: number; max: number };
}

export interface ParsedArgs {
  command?: string;
  sub?: string;
  flags: Record<string, string | boolean>;
  positionals: string[];
  errors: string[];
  help: boolean;
}

export const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: 'stack', kind: 'value', default: 'pgswarm', help: 'stack name (docker stack deploy <name>); also names the secrets and volumes' },
  { name: 'dir', kind: 'value', help: 'local directory of the cluster\'s signing key, CA key and passwords [default: ~/.pgswarm/<stack>]' },
  { name: 'help', kind: 'switch', help: 'show help' },
];

export function parseArgs(argv: readonly string[], commands: readonly CommandSpec[]): ParsedArgs {
  const out: ParsedArgs = { flags: {}, positionals: [], errors: [], help: false };
  const rest = [...argv];
  const first = rest[0];
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    out.help = true;
    if (first === 'help' && rest[1]) out.command = rest[1];
    return out;
  }
  const spec = commands.find((c) => c.name === first);
  if (!spec) {
    out.errors.push(`unknown command "${first}" (commands: ${commands.map((c) => c.name).join(', ')})`);
    return out;
  }
  out.command = spec.name;
  rest.shift();
  if (spec.subs && spec.subs.length) {
    const s = rest[0];
    if (s === undefined || s.startsWith('-')) {
      if (!rest.includes('--help') && !rest.includes('-h')) out.errors.push(`${spec.name}: expected one of ${spec.subs.join(', ')}`);
    } else if (!spec.subs.includes(s)) {
      out.errors.push(`${spec.name}: unknown sub-command "${s}" (expected one of ${spec.subs.join(', ')})`);
      rest.shift();
    } else {
      out.sub = s;
      rest.shift();
    }
  }
  const flags = [...COMMON_FLAGS, ...spec.flags];
  for (const f of flags) if (f.default !== undefined) out.flags[f.name] = f.default;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    if (a === '--') {
      out.positionals.push(...rest.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const f = flags.find((x) => x.name === name);
      if (!f) {
        out.errors.push(`${spec.name}: unknown option --${name}`);
        continue;
      }
      if (f.kind === 'switch') {
        if (eq >= 0) out.errors.push(`${spec.name}: --${name} takes no value`);
        else out.flags[name] = true;
        continue;
      }
      let v: string | undefined;
      if (eq >= 0) v = a.slice(eq + 1);
      else if (i + 1 < rest.length && !rest[i + 1].startsWith('--')) v = rest[++i];
      if (v === undefined || v === '') out.errors.push(`${spec.name}: --${name} needs a value`);
      else out.flags[name] = v;
      continue;
    }
    out.positionals.push(a);
  }
  const p = spec.positionals ?? { names: '', min: 0, max: 0 };
  if (!out.help && out.positionals.length < p.min) out.errors.push(`${spec.name}: missing ${p.names}`);
  if (out.positionals.length > p.max) out.errors.push(`${spec.name}: unexpected argument(s): ${out.positionals.slice(p.max).join(' ')}`);
  const stack = out.flags.stack;
  if (typeof stack === 'string' && !/^[a-z][a-z0-9_-]{0,30}$/.test(stack)) {
    out.errors.push('--stack: must be lower-case letters, digits, - or _, starting with a letter, at most 31 characters');
  }
  return out;
}

/** Parses a duration like 90s, 15m, 12h, 7d (a plain number is seconds). */
export function parseDurationSeconds(s: string): number | null {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  const v = n * mult;
  return v > 0 && Number.isSafeInteger(v) ? v : null;
}

export function helpText(commands: readonly CommandSpec[], command?: string): string {
  const spec = commands.find((c) => c.name === command);
  if (!spec) {
    const w = Math.max(...commands.map((c) => c.name.length));
    return [
      'pgswarm — operate a pgswarm PostgreSQL cluster on Docker Swarm',
      '',
      'usage: pgswarm <command> [options]',
      '',
      ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
      '',
      'pgswarm help <command> (or <command> --help) for its options.',
    ].join('\n');
  }
  const flags = [...spec.flags, ...COMMON_FLAGS];
  const fw = Math.max(...flags.map((f) => f.name.length + (f.kind === 'value' ? 6 : 0)));
  return [
    `usage: pgswarm ${spec.name}${spec.subs?.length ? ` <${spec.subs.join('|')}>` : ''}${spec.positionals?.names ? ` ${spec.positionals.names}` : ''} [options]`,
    '',
    spec.summary,
    '',
    ...flags.map((f) => `  --${(f.name + (f.kind === 'value' ? ' VALUE' : '')).padEnd(fw)}  ${f.help}${f.default !== undefined ? ` [default: ${f.default}]` : ''}`),
  ].join('\n');
}

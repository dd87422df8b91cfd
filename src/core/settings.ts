/**
 * A small, pure settings framework shared by every binary.
 *
 * Sources, lowest to highest precedence:
 *   1. the spec's defaults;
 *   2. a JSON config file named with `--config FILE` (keys are the same names
 *      as the environment variables, e.g. {"PGSWARM_NODE_NAME": "pgnode1"});
 *   3. environment variables;
 *   4. for secrets, `NAME_FILE` (a Docker secret file) instead of `NAME`.
 *      Setting both NAME and NAME_FILE is an error, as in the official
 *      postgres image.
 * Parsing never stops at the first problem: every error is collected.
 */

export type Kind = 'string' | 'int' | 'port' | 'list' | 'bool' | 'secret' | 'path' | 'duration-ms';

export interface SettingSpec {
  name: string;
  kind: Kind;
  required?: boolean;
  default?: string;
  help: string;
  /** Allowed values for enumerations. */
  oneOf?: readonly string[];
  /** Extra check on the raw string; returns an error message or null. */
  check?: (v: string) => string | null;
}

export interface Sources {
  env: Record<string, string | undefined>;
  /** Parsed JSON config file, if any. */
  file?: Record<string, unknown>;
  /** Reads a secret file; injected so parsing stays free of I/O. */
  readFile: (path: string) => string;
}

export type Values = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  errors: string[];
  /** Which source each value came from: 'default' | 'file' | 'env' | 'secret-file'. */
  origin: Record<string, string>;
}

function rawValue(spec: SettingSpec, src: Sources, errors: string[]): { v?: string; origin: string } {
  const env = src.env[spec.name];
  const envFile = spec.kind === 'secret' ? src.env[`${spec.name}_FILE`] : undefined;
  const fileV = src.file?.[spec.name];
  const fileFile = spec.kind === 'secret' ? src.file?.[`${spec.name}_FILE`] : undefined;
  if (env !== undefined && env !== '' && envFile !== undefined && envFile !== '') {
    errors.push(`${spec.name}: set either ${spec.name} or ${spec.name}_FILE, not both`);
    return { origin: 'env' };
  }
  const secretPath = envFile || (env === undefined && typeof fileFile === 'string' ? fileFile : undefined);
  if (secretPath) {
    try {
      const content = src.readFile(secretPath).replace(/\r?\n$/, '');
      if (content === '') errors.push(`${spec.name}_FILE: ${secretPath} is empty`);
      return { v: content, origin: 'secret-file' };
    } catch (e) {
      errors.push(`${spec.name}_FILE: cannot read ${secretPath}: ${(e as Error).message}`);
      return { origin: 'secret-file' };
    }
  }
  if (env !== undefined && env !== '') return { v: env, origin: 'env' };
  if (fileV !== undefined && fileV !== null) {
    if (typeof fileV === 'object') {
      if (Array.isArray(fileV)) return { v: fileV.map(String).join(','), origin: 'file' };
      errors.push(`${spec.name}: config file value must be a string, number or list`);
      return { origin: 'file' };
    }
    return { v: String(fileV), origin: 'file' };
  }
  if (spec.default !== undefined) return { v: spec.default, origin: 'default' };
  return { origin: 'none' };
}

/** Parses every setting of `specs`; returns all values and every error found. */
export function parseSettings(specs: readonly SettingSpec[], src: Sources): Parsed {
  const errors: string[] = [];
  const values: Values = {};
  const origin: Record<string, string> = {};
  if (src.file) {
    const known = new Set(specs.flatMap((s) => [s.name, `${s.name}_FILE`]));
    for (const k of Object.keys(src.file)) {
      if (!known.has(k)) errors.push(`config file: unknown setting ${k}`);
    }
  }
  for (const spec of specs) {
    const { v, origin: o } = rawValue(spec, src, errors);
    origin[spec.name] = o;
    if (v === undefined) {
      if (spec.required) {
        const how = spec.kind === 'secret' ? `${spec.name} or ${spec.name}_FILE` : spec.name;
        errors.push(`${spec.name}: required (${spec.help}); set ${how}`);
      }
      continue;
    }
    const err = (m: string) => errors.push(`${spec.name}: ${m} (got ${spec.kind === 'secret' ? 'a secret' : JSON.stringify(v)})`);
    switch (spec.kind) {
      case 'int':
      case 'port':
      case 'duration-ms': {
        if (!/^-?\d+$/.test(v.trim())) { err('must be a whole number'); break; }
        const n = Number(v.trim());
        if (spec.kind === 'port' && (n < 1 || n > 65535)) { err('must be a port number 1-65535'); break; }
        if (spec.kind !== 'port' && n < 0) { err('must not be negative'); break; }
        values[spec.name] = n;
        break;
      }
      case 'bool': {
        const l = v.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(l)) values[spec.name] = true;
        else if (['0', 'false', 'no', 'off'].includes(l)) values[spec.name] = false;
        else err('must be true or false');
        break;
      }
      case 'list':
        values[spec.name] = v.split(',').map((x) => x.trim()).filter((x) => x !== '');
        break;
      case 'path':
        if (!v.startsWith('/')) { err('must be an absolute path'); break; }
        values[spec.name] = v;
        break;
      default:
        values[spec.name] = v;
    }
    if (spec.oneOf && values[spec.name] !== undefined && !spec.oneOf.includes(String(values[spec.name]))) {
      err(`must be one of ${spec.oneOf.join(', ')}`);
      delete values[spec.name];
    }
    if (spec.check && values[spec.name] !== undefined) {
      const m = spec.check(v);
      if (m) { err(m); delete values[spec.name]; }
    }
  }
  return { values, errors, origin };
}

/** Finds `--config FILE` (or `--config=FILE`) in argv; returns the path or an error. */
export function configPathFromArgv(argv: readonly string[]): { path?: string; error?: string } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config') {
      const p = argv[i + 1];
      if (!p || p.startsWith('--')) return { error: '--config needs a file name' };
      return { path: p };
    }
    if (a.startsWith('--config=')) return { path: a.slice('--config='.length) };
  }
  return {};
}

/** Help text listing every setting, for `--help`. */
export function describeSettings(specs: readonly SettingSpec[]): string {
  return specs
    .map((s) => `  ${s.name}${s.kind === 'secret' ? ' | ' + s.name + '_FILE' : ''}${s.required ? ' (required)' : ''}${s.default !== undefined ? ` [default: ${s.default}]` : ''}\n      ${s.help}`)
    .join('\n');
}

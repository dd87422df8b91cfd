import fs from 'node:fs';
import path from 'node:path';
import { configPathFromArgv, Sources } from '../core/settings';

/** Gathers the raw sources for a binary: env, `--config FILE` (JSON) and a file reader for *_FILE secrets. */
export function loadSources(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { sources?: Sources; errors: string[] } {
  const { path: file, error } = configPathFromArgv(argv);
  if (error) return { errors: [error] };
  let parsed: Record<string, unknown> | undefined;
  if (file) {
    try {
      const j = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      if (typeof j !== 'object' || j === null || Array.isArray(j)) return { errors: [`--config ${file}: must hold a JSON object`] };
      parsed = j as Record<string, unknown>;
    } catch (e) {
      return { errors: [`--config ${file}: ${(e as Error).message}`] };
    }
  }
  return { errors: [], sources: { env, file: parsed, readFile: (p) => fs.readFileSync(p, 'utf8') } };
}

/** `node <dist>/src/bin/<bin>.js`: how our own commands are invoked by repmgr and sshd. */
export function selfCommand(bin: string): string {
  return `${process.execPath} ${path.resolve(__dirname, '..', 'bin', `${bin}.js`)}`;
}

/** Prints every configuration error and exits non-zero, before anything touches data. */
export function exitWithErrors(what: string, errors: string[]): never {
  process.stderr.write(`${what}: invalid configuration (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n${errors.map((e) => `  - ${e}`).join('\n')}\nNothing was changed.\n`);
  process.exit(64);
}

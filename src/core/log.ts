import pino from 'pino';

/** Paths pino replaces with "[redacted]" in every event, wherever they appear. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password',
  'passwords', '*.passwords',
  'privateKey', '*.privateKey', '*.*.privateKey',
  'secret', '*.secret', '*.*.secret',
  'signingKey', '*.signingKey', '*.*.signingKey',
  'token', '*.token', '*.*.token',
  'PGPASSWORD', '*.PGPASSWORD',
];

export type Logger = pino.Logger;

/** One JSON event per line; secrets redacted; `dest` is injectable for tests. */
export function createLogger(
  name: string,
  opts: { level?: string; dest?: pino.DestinationStream } = {},
): Logger {
  const options: pino.LoggerOptions = {
    name,
    level: opts.level ?? process.env.PGSWARM_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    base: { pid: process.pid },
  };
  return opts.dest ? pino(options, opts.dest) : pino(options, pino.destination({ fd: 2, sync: true }));
}

/** Removes anything that looks like a private key or a password= pair from free text (e.g. a child's stderr). */
export function scrubText(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]')
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1[redacted]');
}

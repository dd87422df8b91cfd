import fs from 'node:fs';
import os from 'node:os';

/** What a benchmark ran on, printed with every figure. */
export function machineInfo(): Record<string, string | number> {
  let osName = os.type();
  try {
    osName = /PRETTY_NAME="([^"]+)"/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    /* keep os.type() */
  }
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, os: osName, kernel: os.release(), node: process.version };
}

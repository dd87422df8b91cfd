#!/usr/bin/env node
import { sendControl, CONTROL_VERBS } from '../runtime/control-server';

/** repmgr's service_{start,stop,restart,reload}_command: asks the node's supervisor through its control socket. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const i = args.indexOf('--socket');
  const socket = i >= 0 ? args[i + 1] : `${process.env.PGSWARM_HOME ?? '/var/lib/pgswarm'}/state/ctl.sock`;
  const rest = i >= 0 ? [...args.slice(0, i), ...args.slice(i + 2)] : args;
  const verb = rest[0];
  if (!verb || !(CONTROL_VERBS as readonly string[]).includes(verb)) {
    process.stderr.write(`usage: pgswarm-ctl [--socket PATH] ${CONTROL_VERBS.join('|')}\n`);
    process.exit(64);
  }
  const out = await sendControl(socket, rest.join(' '));
  process.stdout.write(out + '\n');
}

main().catch((e: Error) => {
  process.stderr.write(`pgswarm-ctl: ${e.message}\n`);
  process.exit(1);
});

#!/usr/bin/env node
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { sendControl } from '../runtime/control-server';

/**
 * repmgrd's promote_command and follow_command. Runs the repmgr command and
 * reports what happened, with the reason, into the node's log through the
 * control socket (so every promotion is one logged decision).
 * Usage: pgnode-hook --socket S --repmgr BIN promote | follow <upstream-node-id>
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const socket = opt('--socket') ?? `${process.env.PGSWARM_HOME ?? '/var/lib/pgswarm'}/state/ctl.sock`;
  const repmgr = opt('--repmgr') ?? 'repmgr';
  const [verb, upstream] = args;
  const home = path.dirname(path.dirname(socket));
  const conf = path.join(home, 'conf', 'repmgr.conf');
  let cmd: string[];
  let reason: string;
  if (verb === 'promote') {
    cmd = ['-f', conf, 'standby', 'promote', '--log-to-file'];
    reason = 'repmgrd lost the primary for all reconnect attempts and elected this node (most advanced LSN, then priority, then lowest id)';
  } else if (verb === 'follow' && upstream && /^\d+$/.test(upstream)) {
    cmd = ['-f', conf, 'standby', 'follow', '--log-to-file', `--upstream-node-id=${upstream}`];
    reason = `repmgrd saw node ${upstream} promoted; following it`;
  } else {
    process.stderr.write('usage: pgnode-hook [--socket S] promote | follow <node-id>\n');
    process.exit(64);
  }
  const started = Date.now();
  const log = (o: Record<string, unknown>) => sendControl(socket, `report ${JSON.stringify(o)}`, 5000).catch(() => undefined);
  await log({ event: verb === 'promote' ? 'promote-start' : 'follow-start', reason });
  const r = spawnSync(repmgr, cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ok = r.status === 0;
  await log({ event: verb === 'promote' ? 'promoted' : 'followed', ok, exit: r.status, ms: Date.now() - started, reason, output: (r.stdout + r.stderr).trim().slice(-2000) });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exit(r.status ?? 1);
}

main().catch((e: Error) => {
  process.stderr.write(`pgnode-hook: ${e.message}\n`);
  process.exit(1);
});

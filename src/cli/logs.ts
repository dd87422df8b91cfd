/** pgswarm logs [SERVICE...]: the services' logs (pino JSON lines), optionally followed. */
import { CliContext, CliError } from './context';
import { DEFAULT_PROXIES } from './cluster-secrets';
import { topologyOfServices } from './topology';

export async function runLogs(ctx: CliContext): Promise<void> {
  await ctx.docker.requireSwarmManager();
  const t = topologyOfServices((await ctx.docker.stackServices(ctx.stack)).map((s) => s.Spec?.Name ?? ''), ctx.stack);
  const all = [...t.dataNodes, ...t.witnesses, ...DEFAULT_PROXIES.map((p) => p.service)];
  const wanted = ctx.positionals.length ? ctx.positionals : all;
  const bad = wanted.filter((w) => !all.includes(w));
  if (bad.length) throw new CliError(`logs: unknown service(s) ${bad.join(', ')} (services: ${all.join(', ')})`);
  const follow = ctx.flags.follow === true;
  const tail = ctx.flags.tail !== undefined ? Number(ctx.flags.tail) : 200;
  await Promise.all(wanted.map((s) => ctx.docker.serviceLogs(ctx.stack, s, { follow, tail }, prefixed(s, process.stdout), prefixed(s, process.stderr))));
}

function prefixed(name: string, w: NodeJS.WriteStream): NodeJS.WritableStream {
  const { Writable } = require('node:stream') as typeof import('node:stream');
  let buf = '';
  return new Writable({
    write(chunk, _enc, cb) {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) w.write(`${name} | ${l}\n`);
      cb();
    },
  });
}

/**
 * pgswarm up: from a bare machine to a healthy cluster. Docker engine, swarm,
 * base image, our images, secrets, deploy, wait for health, then print how
 * to connect. Every step is idempotent, so `up` is also "make it so again".
 */
import path from 'node:path';
import { CliContext, readLocal } from './context';
import { runInit } from './init';
import { deployStack, runInherit, waitHealthy, topologyOf } from './deploy';
import { APP_PASSWORD_FILE, APP_USER, ensureAppRole } from './app-role';
import { connectionString, DEFAULT_PROXIES } from './cluster-secrets';

export async function runUp(ctx: CliContext): Promise<void> {
  topologyOf(ctx); // a bad --topology/--file is refused before anything is installed or deployed
  const scripts = path.join(ctx.repoRoot, 'scripts');
  await runInherit('bash', [path.join(scripts, 'docker-engine.sh')]);
  await runInherit('bash', [path.join(scripts, 'swarm.sh')]);
  if (ctx.flags['no-build'] !== true) {
    await runInherit('bash', [path.join(scripts, 'base-image.sh')]);
    // npm run up already compiled the TypeScript.
    await runInherit('bash', [path.join(scripts, 'build-images.sh')], { env: { ...ctx.env, PGSWARM_SKIP_TS_BUILD: ctx.env.PGSWARM_SKIP_TS_BUILD ?? '1' } });
  }
  await runInit(ctx, { ensure: true });
  await deployStack(ctx);
  const timeout = Number(ctx.flags.timeout ?? 600) * 1000;
  await waitHealthy(ctx, timeout);
  await ensureAppRole(ctx);
  printConnection(ctx);
}

export function printConnection(ctx: CliContext): void {
  const ca = path.join(ctx.dir, 'ca.crt');
  const db = ctx.env.POSTGRES_DB || 'app';
  const host = String(ctx.flags.host ?? '127.0.0.1');
  const ports = DEFAULT_PROXIES.map((p, i) => Number((i === 0 ? ctx.env.PGSWARM_PORT : ctx.env.PGSWARM_PORT2) || p.port));
  ctx.out('');
  ctx.out(`cluster ${ctx.stack} is up. Connect (TLS verified against the cluster CA):`);
  ctx.out(`  psql "${connectionString({ host, port: ports[0], user: APP_USER, database: db, caFile: ca })}"`);
  ctx.out(`  second proxy: port ${ports[1]}; libpq can list both: host=${host},${host} port=${ports.join(',')}`);
  ctx.out(`  password: ${path.join(ctx.dir, APP_PASSWORD_FILE)} (e.g. PGPASSWORD="$(cat ${path.join(ctx.dir, APP_PASSWORD_FILE)})")`);
  ctx.out(`  (${APP_USER} owns ${db}; superusers cannot log in through the proxies by design)`);
}

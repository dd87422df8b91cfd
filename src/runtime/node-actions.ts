import fs from 'node:fs';
import path from 'node:path';
import type { NodeContext } from './node-context';
import { memberByName, repmgr, repmgrTarget, superuserTarget, writeIfChanged } from './node-context';
import { startPostgres, stopPostgres, waitReady } from './postgres-process';
import { withPg } from '../adapters/pg-connect';
import { controlData } from '../adapters/local-state';
import { nodeConninfo } from '../core/render-repmgr';
import { CommandFailed } from '../ports/process-runner';
import { randomBytes } from 'node:crypto';
import { ensureOwnedDir, writeFileExclusive } from '../adapters/atomic-file';
import { scramVerifier } from '../core/scram';
import { proxyRolesSql, proxyAuthFunctionSql } from '../core/proxy-roles-sql';

/** Extra SQL run once on a new primary while it is still on its hidden port (proxy roles, registry schema). */
export type BootstrapSql = (ctx: NodeContext) => string[];
export const bootstrapSqlProviders: BootstrapSql[] = [];

function ensureEmptyPgdata(ctx: NodeContext): void {
  ensureOwnedDir(ctx.paths.pgdata, ctx.owner, 0o700);
}

async function writeMarker(ctx: NodeContext): Promise<string> {
  const cd = await controlData(ctx.pgBinDir, ctx.paths.pgdata);
  if (!cd) throw new Error('pg_controldata cannot read the new PGDATA');
  writeIfChanged(ctx.paths.marker, JSON.stringify({ systemId: cd.systemId, node: ctx.cfg.nodeName, setupAt: new Date().toISOString() }) + '\n', 0o644);
  fs.rmSync(ctx.paths.inProgress, { force: true });
  return cd.systemId;
}

/** Deletes a tree the run user owns: its contents as the run user (`rm` never follows symlinks), then the empty top as root. */
async function removeOwnedTree(ctx: NodeContext, dir: string): Promise<void> {
  const r = await ctx.runner.run('find', [dir, '-mindepth', '1', '-delete'], { user: ctx.cfg.runUser, timeoutMs: 600000 });
  if (r.code !== 0) throw new CommandFailed(`find ${dir} -delete`, r);
  fs.rmdirSync(dir);
}

/** Moves a half-built PGDATA aside (never deletes: nothing is lost) so the set-up can start again. */
export async function discardPartial(ctx: NodeContext, step: string): Promise<string> {
  // Keep only the most recent earlier copy, so a set-up failing in a loop cannot fill the volume.
  const parent = path.dirname(ctx.paths.pgdata);
  const base = path.basename(ctx.paths.pgdata);
  const old = fs.readdirSync(parent).filter((f) => f.startsWith(`${base}.interrupted-`)).sort();
  for (const f of old.slice(0, -1)) {
    // Its contents belong to the run user, who could swap a directory for a symlink while root walks
    // it: the run user empties it, root removes only the (then empty) directory in its own parent.
    await removeOwnedTree(ctx, path.join(parent, f));
    ctx.log.warn({ event: 'discarded-old-partial', dir: f }, `removed an older interrupted set-up copy ${f}`);
  }
  const dest = `${ctx.paths.pgdata}.interrupted-${step}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  fs.renameSync(ctx.paths.pgdata, dest);
  fs.rmSync(ctx.paths.inProgress, { force: true });
  ensureEmptyPgdata(ctx);
  return dest;
}

/** initdb + roles + init scripts on the hidden port, then the public port and `repmgr primary register`. */
export async function initPrimary(ctx: NodeContext): Promise<void> {
  const { cfg, paths } = ctx;
  fs.writeFileSync(paths.inProgress, 'init');
  ensureEmptyPgdata(ctx);
  const pwfile = path.join(paths.secretsDir, 'initdb.pw');
  writeIfChanged(pwfile, cfg.superuserPassword + '\n', 0o600, ctx.owner);
  try {
    const args = ['-D', paths.pgdata, '-U', cfg.superuser, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8',
      ...cfg.initdbArgs.split(/\s+/).filter((a) => a)];
    const r = await ctx.runner.run(path.join(ctx.pgBinDir, 'initdb'), args, { user: cfg.runUser, env: ctx.pgEnv, timeoutMs: 120000 });
    if (r.code !== 0) throw new CommandFailed('initdb', r);
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  // initdb's own config files in PGDATA are never used (config_file points outside); remove them to avoid confusion.
  for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) fs.rmSync(path.join(paths.pgdata, f), { force: true });
  ctx.log.info({ event: 'setup', step: 'initdb' }, 'initdb done; starting on the hidden port');
  startPostgres(ctx, cfg.setupPort);
  await waitReady(ctx, cfg.setupPort);
  await withPg(superuserTarget(ctx, cfg.setupPort), async (c) => {
    const lit = (s: string) => c.escapeLiteral(s);
    const id = (s: string) => c.escapeIdentifier(s);
    // Passwords are sent as SCRAM verifiers computed here, so the clear text never reaches the server or its logs.
    await c.query(`CREATE ROLE ${id(cfg.replUser)} LOGIN SUPERUSER REPLICATION PASSWORD ${lit(scramVerifier(cfg.replPassword, randomBytes(16)))}`);
    if (cfg.authPassword) for (const sql of proxyRolesSql({ authUser: cfg.authUser, authPasswordScramOrPlain: scramVerifier(cfg.authPassword, randomBytes(16)) })) await c.query(sql);
  });
  if (cfg.authPassword) {
    // The proxies' auth_query lookup function in template1, so every database created from now on has it.
    await withPg(superuserTarget(ctx, cfg.setupPort, 'template1'), async (c) => {
      for (const sql of proxyAuthFunctionSql(cfg.authUser)) await c.query(sql);
    });
  }
  await withPg(superuserTarget(ctx, cfg.setupPort), async (c) => {
    const id = (s: string) => c.escapeIdentifier(s);
    await c.query(`CREATE DATABASE repmgr OWNER ${id(cfg.replUser)}`);
    if (cfg.database !== 'postgres') await c.query(`CREATE DATABASE ${id(cfg.database)} OWNER ${id(cfg.superuser)}`);
    for (const p of bootstrapSqlProviders) for (const sql of p(ctx)) await c.query(sql);
  });
  await runInitScripts(ctx);
  ctx.log.info({ event: 'setup', step: 'roles' }, 'roles and databases created; moving to the public port');
  await stopPostgres(ctx);
  startPostgres(ctx, cfg.self.port);
  await waitReady(ctx, cfg.self.port);
  await repmgr(ctx, ['primary', 'register', '--force']);
  const sys = await writeMarker(ctx);
  ctx.log.info({ event: 'setup-done', role: 'primary', systemId: sys }, 'new cluster initialised; this node is its primary');
}

/** Scripts in /docker-entrypoint-initdb.d: *.sql through psql, *.sh through bash; once, on the first primary. */
async function runInitScripts(ctx: NodeContext): Promise<void> {
  const dir = ctx.cfg.initdbScriptsDir;
  if (!fs.existsSync(dir)) return;
  const env = { ...ctx.pgEnv, PGHOST: ctx.cfg.self.host, PGPORT: String(ctx.cfg.setupPort), PGUSER: ctx.cfg.superuser, PGDATABASE: ctx.cfg.database, POSTGRES_USER: ctx.cfg.superuser, POSTGRES_DB: ctx.cfg.database };
  for (const f of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, f);
    let r;
    if (f.endsWith('.sql')) r = await ctx.runner.run(path.join(ctx.pgBinDir, 'psql'), ['-v', 'ON_ERROR_STOP=1', '-q', '-f', file], { user: ctx.cfg.runUser, env, timeoutMs: 600000 });
    else if (f.endsWith('.sh')) r = await ctx.runner.run('bash', [file], { user: ctx.cfg.runUser, env, timeoutMs: 600000 });
    else {
      ctx.log.info({ event: 'init-script-skipped', file }, `ignoring ${f}: not .sql or .sh`);
      continue;
    }
    if (r.code !== 0) throw new CommandFailed(`init script ${f}`, r);
    ctx.log.info({ event: 'init-script', file }, `ran ${f}`);
  }
}

/** `repmgr standby clone` over TLS (verify-full) from the primary, then start and register. */
export async function cloneStandby(ctx: NodeContext, from: string): Promise<void> {
  const { cfg, paths } = ctx;
  const src = memberByName(cfg, from);
  fs.writeFileSync(paths.inProgress, 'clone');
  ensureEmptyPgdata(ctx);
  await repmgr(ctx, ['-h', src.host, '-p', String(src.port), '-U', cfg.replUser, '-d', 'repmgr', 'standby', 'clone', '--fast-checkpoint'], 3600000);
  for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) fs.rmSync(path.join(paths.pgdata, f), { force: true });
  startPostgres(ctx, cfg.self.port);
  await waitReady(ctx, cfg.self.port);
  await repmgr(ctx, ['standby', 'register', '--force', `--upstream-node-id=${await nodeIdOf(ctx, from)}`]);
  const sys = await writeMarker(ctx);
  ctx.log.info({ event: 'setup-done', role: 'standby', upstream: from, systemId: sys }, `cloned from ${from}; streaming as a hot standby`);
}

/** repmgr node id of a member, read from repmgr's metadata on the primary. */
export async function nodeIdOf(ctx: NodeContext, name: string): Promise<number> {
  const m = memberByName(ctx.cfg, name);
  const rows = await withPg(repmgrTarget(ctx, m, m.port, 'repmgr'), async (c) => (await c.query('SELECT node_id FROM repmgr.nodes WHERE node_name = $1', [name])).rows);
  if (!rows.length) throw new Error(`${name} is not registered in repmgr's metadata`);
  return Number(rows[0].node_id);
}

/**
 * Brings data that did not stop cleanly to a clean shutdown, which pg_rewind needs.
 * A primary's data: crash recovery in single-user mode (no network, no clients).
 * A standby's data (standby.signal): single-user mode refuses it ("standby mode is not supported
 * by single-user servers"), and crash recovery without the signal file would end recovery and write
 * an end-of-recovery checkpoint of its own, so the data would diverge from the primary's. It is
 * started as a standby until it accepts connections (consistent), then shut down: "shut down in
 * recovery". Seen in the swarm: a standby whose disk filled up crashed, and every later rejoin failed
 * in single-user mode, even after the disk was freed.
 */
async function recoverOffline(ctx: NodeContext): Promise<void> {
  const cd = await controlData(ctx.pgBinDir, ctx.paths.pgdata);
  if (!cd || cd.state === 'shut down' || cd.state === 'shut down in recovery') return;
  if (fs.existsSync(path.join(ctx.paths.pgdata, 'standby.signal'))) {
    ctx.log.info({ event: 'crash-recovery', state: cd.state, standby: true }, `standby data stopped in state "${cd.state}": starting it as a standby until it is consistent, then shutting it down cleanly before rewind`);
    startPostgres(ctx, ctx.cfg.self.port);
    try {
      await waitReady(ctx, ctx.cfg.self.port);
    } finally {
      await stopPostgres(ctx);
    }
    const after = await controlData(ctx.pgBinDir, ctx.paths.pgdata);
    if (after?.state !== 'shut down in recovery') throw new Error(`standby recovery: the data stopped in state "${after?.state ?? 'unreadable'}", not "shut down in recovery"`);
    return;
  }
  ctx.log.info({ event: 'crash-recovery', state: cd.state }, `data stopped in state "${cd.state}": running crash recovery in single-user mode before rewind`);
  const r = await ctx.runner.run(path.join(ctx.pgBinDir, 'postgres'), ['--single', '-D', ctx.paths.pgdata, '-c', `config_file=${ctx.paths.confDir}/postgresql.conf`, 'postgres'], { user: ctx.cfg.runUser, env: ctx.pgEnv, input: '', timeoutMs: 600000 });
  if (r.code !== 0) throw new CommandFailed('postgres --single', r);
}

/** The old primary rejoins the new one: `repmgr node rejoin --force-rewind` (pg_rewind), started through our control socket. */
export async function rejoin(ctx: NodeContext, from: string): Promise<void> {
  const src = memberByName(ctx.cfg, from);
  await recoverOffline(ctx);
  // PostgreSQL < 16: pg_rewind reads the source's timeline from its control file, which a freshly
  // promoted primary updates only at its next checkpoint; without one, pg_rewind says "no rewind
  // required" and the node then fails with "requested timeline is not a child of this server's history".
  await withPg(repmgrTarget(ctx, src), (c) => c.query('CHECKPOINT'));
  // From here PGDATA may be half-rewound: an interruption or a failure leaves this marker, and the
  // next decision moves the data aside and clones again (rule interrupted-rejoin), never starts it.
  fs.writeFileSync(ctx.paths.inProgress, 'rejoin');
  await repmgr(ctx, ['node', 'rejoin', '-d', nodeConninfo(src, ctx.cfg.replUser, ctx.cfg.caCertFile, ctx.cfg.connectTimeoutSecs, ctx.paths.pgpass), '--force-rewind', '--verbose'], 600000);
  if (!ctx.sup.isRunning('postgres')) {
    startPostgres(ctx, ctx.cfg.self.port);
  }
  await waitReady(ctx, ctx.cfg.self.port);
  fs.rmSync(ctx.paths.inProgress, { force: true });
  ctx.log.info({ event: 'rejoined', upstream: from }, `rejoined as a standby of ${from} (pg_rewind as needed)`);
}

export async function startPrimary(ctx: NodeContext): Promise<void> {
  startPostgres(ctx, ctx.cfg.self.port);
  await waitReady(ctx, ctx.cfg.self.port);
}

/** Starts as a hot standby, then makes sure it follows `follow` (repmgr standby follow reloads, no restart on PG13+). */
export async function startStandby(ctx: NodeContext, follow: string): Promise<void> {
  const { cfg } = ctx;
  writeFileExclusive(path.join(ctx.paths.pgdata, 'standby.signal'), '', 0o600, ctx.owner);
  startPostgres(ctx, cfg.self.port);
  await waitReady(ctx, cfg.self.port);
  const target = memberByName(cfg, follow);
  const conn = await withPg(superuserTarget(ctx, cfg.self.port), async (c) => (await c.query('SHOW primary_conninfo')).rows[0].primary_conninfo as string);
  const host = /host=(\S+)/.exec(conn)?.[1]?.replace(/'/g, '');
  const port = /port=(\d+)/.exec(conn)?.[1];
  if (host !== target.host || Number(port) !== target.port) {
    ctx.log.info({ event: 'follow', from: `${host}:${port}`, to: follow }, `primary_conninfo points at ${host}:${port}; following ${follow} instead`);
    await repmgr(ctx, ['standby', 'follow', `--upstream-node-id=${await nodeIdOf(ctx, follow)}`]);
  }
}

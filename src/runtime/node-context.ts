import fs from 'node:fs';
import path from 'node:path';
import type { NodeConfig, Member } from '../core/node-config';
import type { Logger } from '../core/log';
import type { ProcessRunner } from '../ports/process-runner';
import { CommandFailed } from '../ports/process-runner';
import { NodePaths, nodePaths } from '../adapters/local-state';
import { lookupUser } from '../adapters/os-users';
import { Supervisor } from './supervisor';
import { PgTarget } from '../adapters/pg-connect';
import { PgSessions } from '../adapters/pg-sessions';
import type { ProbeCreds } from '../adapters/peer-probe';

/** Everything a node's set-up steps need, built once at start. */
export interface NodeContext {
  cfg: NodeConfig;
  paths: NodePaths;
  log: Logger;
  sup: Supervisor;
  runner: ProcessRunner;
  pgBinDir: string;
  repmgrBin: string;
  owner: { uid: number; gid: number };
  /** Environment for postgres, repmgr and their children: passfile and TLS verification, no passwords. */
  pgEnv: NodeJS.ProcessEnv;
  /** Command prefix to run our own compiled bins (node + dist path). */
  selfCmd: (bin: string) => string;
  onPostgresCrash: (code: number | null, signal: string | null) => void;
  /** The agent's long-lived connections to members and proxies (one per target, reused by every probe). */
  sessions: PgSessions;
}

/** Credentials for probing members as the repmgr role over the agent's persistent sessions. */
export function probeCreds(ctx: NodeContext, timeoutMs = ctx.cfg.connectTimeoutSecs * 1000): ProbeCreds {
  const { cfg } = ctx;
  return { user: cfg.replUser, password: cfg.replPassword, caFile: cfg.caCertFile, timeoutMs, sessions: ctx.sessions };
}

/** Finds the newest /usr/lib/postgresql/N/bin holding postgres. */
export function findPgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const d = path.join(base, v, 'bin');
    if (fs.existsSync(path.join(d, 'postgres'))) return d;
  }
  throw new Error('no PostgreSQL server found under /usr/lib/postgresql; set PGSWARM_PG_BINDIR');
}

export function makeContext(cfg: NodeConfig, log: Logger, runner: ProcessRunner, selfCmd: (bin: string) => string): NodeContext {
  const pgBinDir = cfg.pgBinDir || findPgBinDir();
  const repmgrBin = cfg.repmgrBin || path.join(pgBinDir, 'repmgr');
  const paths = nodePaths(cfg.home, cfg.pgdata);
  const u = lookupUser(cfg.runUser);
  const pgEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    PGPASSFILE: paths.pgpass,
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: cfg.caCertFile,
    PGCONNECT_TIMEOUT: String(cfg.connectTimeoutSecs),
    PGSWARM_HOME: cfg.home,
  };
  return {
    cfg,
    paths,
    log,
    sup: new Supervisor(log),
    runner,
    pgBinDir,
    repmgrBin,
    owner: { uid: u.uid, gid: u.gid },
    pgEnv,
    selfCmd,
    onPostgresCrash: () => undefined,
    sessions: new PgSessions(),
  };
}

export function memberByName(cfg: NodeConfig, name: string): Member {
  const m = cfg.members.find((x) => x.name === name);
  if (!m) throw new Error(`unknown member ${name}`);
  return m;
}

/** Connection to a member as the repmgr role (TLS, verify-full). */
export function repmgrTarget(ctx: NodeContext, m: Member, port = m.port, database = 'postgres'): PgTarget {
  return { host: m.host, port, user: ctx.cfg.replUser, password: ctx.cfg.replPassword, database, caFile: ctx.cfg.caCertFile, timeoutMs: ctx.cfg.connectTimeoutSecs * 1000 };
}

export function superuserTarget(ctx: NodeContext, port: number, database = 'postgres'): PgTarget {
  return { host: ctx.cfg.self.host, port, user: ctx.cfg.superuser, password: ctx.cfg.superuserPassword, database, caFile: ctx.cfg.caCertFile, timeoutMs: ctx.cfg.connectTimeoutSecs * 1000 };
}

/** Runs repmgr as the run user with the node's config file; throws CommandFailed on non-zero. */
export async function repmgr(ctx: NodeContext, args: string[], timeoutMs = 300000): Promise<string> {
  const full = ['-f', path.join(ctx.paths.confDir, 'repmgr.conf'), ...args];
  ctx.log.info({ event: 'repmgr', args: full.slice(2) }, `running repmgr ${args.join(' ')}`);
  const r = await ctx.runner.run(ctx.repmgrBin, full, { user: ctx.cfg.runUser, env: ctx.pgEnv, timeoutMs });
  const out = (r.stdout + r.stderr).trim();
  if (out) ctx.log.info({ event: 'repmgr-output', args: args.slice(0, 2) }, out);
  if (r.code !== 0) throw new CommandFailed(`repmgr ${args.slice(0, 2).join(' ')}`, r);
  return r.stdout;
}

/** One writer for the whole code base: src/adapters/atomic-file.ts. */
export { writeIfChanged } from '../adapters/atomic-file';

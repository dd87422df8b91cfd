import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NodeContext } from './node-context';
import { memberByName, repmgr, superuserTarget, writeIfChanged } from './node-context';
import { startPostgres, stopPostgres, waitReady } from './postgres-process';
import { withPg } from '../adapters/pg-connect';
import { controlData } from '../adapters/local-state';
import { scramVerifier } from '../core/scram';
import { CommandFailed } from '../ports/process-runner';
import type { WitnessMarker } from '../core/witness-decide';

/**
 * The witness's set-up steps. Its PostgreSQL holds only repmgr's metadata:
 * initdb (scram, TLS and hostssl-only pg_hba rendered outside PGDATA as on the
 * data nodes), the repmgr role and database on the hidden port, then
 * `repmgr witness register` against the current primary (over verify-full TLS).
 */

export function readWitnessMarker(file: string): WitnessMarker | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as WitnessMarker;
  } catch {
    return null;
  }
}

function writeWitnessMarker(ctx: NodeContext, fields: Record<string, unknown>): void {
  const old = readWitnessMarker(ctx.paths.marker) ?? {};
  writeIfChanged(ctx.paths.marker, JSON.stringify({ ...old, ...fields, role: 'witness', node: ctx.cfg.nodeName }) + '\n', 0o644);
}

export async function initWitness(ctx: NodeContext): Promise<void> {
  const { cfg, paths } = ctx;
  fs.writeFileSync(paths.inProgress, 'witness-init');
  fs.mkdirSync(paths.pgdata, { recursive: true, mode: 0o700 });
  fs.chownSync(paths.pgdata, ctx.owner.uid, ctx.owner.gid);
  fs.chmodSync(paths.pgdata, 0o700);
  const pwfile = path.join(paths.secretsDir, 'initdb.pw');
  writeIfChanged(pwfile, cfg.superuserPassword + '\n', 0o600, ctx.owner);
  try {
    const args = ['-D', paths.pgdata, '-U', cfg.superuser, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8'];
    const r = await ctx.runner.run(path.join(ctx.pgBinDir, 'initdb'), args, { user: cfg.runUser, env: ctx.pgEnv, timeoutMs: 120000 });
    if (r.code !== 0) throw new CommandFailed('initdb', r);
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) fs.rmSync(path.join(paths.pgdata, f), { force: true });
  startPostgres(ctx, cfg.setupPort);
  await waitReady(ctx, cfg.setupPort);
  await withPg(superuserTarget(ctx, cfg.setupPort), async (c) => {
    // repmgr witness register installs the repmgr extension here: the role must be a superuser, as on the data nodes.
    await c.query(`CREATE ROLE ${c.escapeIdentifier(cfg.replUser)} LOGIN SUPERUSER PASSWORD ${c.escapeLiteral(scramVerifier(cfg.replPassword, randomBytes(16)))}`);
    await c.query(`CREATE DATABASE repmgr OWNER ${c.escapeIdentifier(cfg.replUser)}`);
  });
  await stopPostgres(ctx);
  const cd = await controlData(ctx.pgBinDir, paths.pgdata);
  if (!cd) throw new Error('pg_controldata cannot read the witness\'s new PGDATA');
  writeWitnessMarker(ctx, { systemId: cd.systemId, setupAt: new Date().toISOString(), registeredWith: null });
  fs.rmSync(paths.inProgress, { force: true });
  ctx.log.info({ event: 'setup-done', role: 'witness', systemId: cd.systemId }, 'witness server initialised (metadata only, no data)');
}

/** Starts the witness's server on its public port, if it is not running. */
export async function startWitnessServer(ctx: NodeContext): Promise<void> {
  if (!ctx.sup.isRunning('postgres')) startPostgres(ctx, ctx.cfg.self.port);
  await waitReady(ctx, ctx.cfg.self.port);
}

/** `repmgr witness register --force` against `primary` (idempotent: also refreshes the witness's upstream after a failover). */
export async function registerWitness(ctx: NodeContext, primary: string): Promise<void> {
  const p = memberByName(ctx.cfg, primary);
  await repmgr(ctx, ['-h', p.host, '-p', String(p.port), '-U', ctx.cfg.replUser, '-d', 'repmgr', 'witness', 'register', '--force'], 120000);
  writeWitnessMarker(ctx, { registeredWith: primary, registeredAt: new Date().toISOString() });
  ctx.log.info({ event: 'witness-registered', primary }, `registered as repmgr witness with the primary ${primary}`);
}

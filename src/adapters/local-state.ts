import fs from 'node:fs';
import path from 'node:path';
import type { LocalState } from '../core/decide-role';
import { parseControlData } from '../core/control-data';
import { childProcessRunner } from './child-process-runner';

export interface NodePaths {
  home: string;
  pgdata: string;
  confDir: string;
  /** PostgreSQL's socket directory and repmgrd's pid file: the run user's own (0700). Root writes nothing here. */
  runDir: string;
  /** The agent's state files and control socket: root-owned 0755 (readable, never writable, by the run user). */
  stateDir: string;
  /** Passwords handed to the run user (passfile, repmgr password, initdb's password file): root-owned 0711, files 0600 of the run user. */
  secretsDir: string;
  /** TLS key (0600 of the run user) and certificate: root-owned 0755. */
  tlsDir: string;
  sshDir: string;
  marker: string;
  inProgress: string;
  /** Written when this node, as primary, fenced itself for a lost majority; removed once it runs again. */
  fencedAlone: string;
  stateFile: string;
  ctlSocket: string;
  pgpass: string;
}

/** Docker's HEALTHCHECK reads this (images/pgnode/pgnode-health): in a directory only root can write. */
export function healthFilePath(home: string): string {
  return path.join(home, 'answer', 'health');
}

export function nodePaths(home: string, pgdata: string): NodePaths {
  return {
    home,
    pgdata,
    confDir: path.join(home, 'conf'),
    runDir: path.join(home, 'run'),
    stateDir: path.join(home, 'state'),
    secretsDir: path.join(home, 'secrets'),
    tlsDir: path.join(home, 'tls'),
    sshDir: path.join(home, 'ssh'),
    marker: path.join(home, 'setup-done.json'),
    inProgress: path.join(home, 'setup-in-progress'),
    fencedAlone: path.join(home, 'fenced-alone.json'),
    stateFile: path.join(home, 'state', 'state.json'),
    ctlSocket: path.join(home, 'state', 'ctl.sock'),
    pgpass: path.join(home, 'secrets', 'pgpass'),
  };
}

export async function controlData(pgBinDir: string, pgdata: string) {
  const r = await childProcessRunner.run(path.join(pgBinDir, 'pg_controldata'), ['-D', pgdata], { env: { ...process.env, LANG: 'C', LC_ALL: 'C' }, timeoutMs: 10000 });
  return r.code === 0 ? parseControlData(r.stdout) : null;
}

/** Reads what is on disk: PGDATA, the set-up marker, an interrupted set-up step, control data. */
export async function readLocalState(p: NodePaths, pgBinDir: string): Promise<LocalState> {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(p.pgdata).filter((e) => e !== 'lost+found');
  } catch {
    entries = [];
  }
  let marker: LocalState['marker'] = null;
  try {
    const j = JSON.parse(fs.readFileSync(p.marker, 'utf8')) as { systemId?: unknown; role?: unknown };
    if (typeof j.systemId === 'string') marker = { systemId: j.systemId, ...(typeof j.role === 'string' ? { role: j.role } : {}) };
  } catch {
    marker = null;
  }
  let inProgress: LocalState['inProgress'] = null;
  try {
    const s = fs.readFileSync(p.inProgress, 'utf8').trim();
    if (s === 'init' || s === 'clone' || s === 'rejoin') inProgress = s;
  } catch {
    inProgress = null;
  }
  const pgdataEmpty = entries.length === 0;
  const control = pgdataEmpty ? null : await controlData(pgBinDir, p.pgdata);
  return { pgdataEmpty, marker, inProgress, control, fencedAlone: fs.existsSync(p.fencedAlone) };
}

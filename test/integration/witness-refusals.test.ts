import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createCa } from '../../src/adapters/tls-issuer';
import { testDir, pgBin } from '../helpers/pg-tools';
import { PGNODE, PGPROXY } from '../helpers/node-cluster';

// Bad input for the 2+1 topology through the real binaries: every problem listed at once, non-zero exit,
// nothing touched. Data members are on ports 16040-16049 where nothing listens (connections refused at once).
const dir = testDir('witref');
const secret = path.join(dir, 'pw');
fs.writeFileSync(secret, 'x\n', { mode: 0o600 });

const witnessEnv = (home: string): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  PGSWARM_ROLE: 'witness',
  PGSWARM_NODE_NAME: 'w1',
  PGSWARM_NODE_ID: '3',
  PGSWARM_PEERS: 'n1@127.0.0.1:16041:16045,n2@127.0.0.2:16042:16045',
  PGSWARM_WITNESS: 'w1@127.0.0.3:16043:16045',
  PGSWARM_LISTEN_ADDRESSES: '127.0.0.3',
  PGSWARM_SETUP_PORT: '16044',
  PGSWARM_HOME: home,
  PGSWARM_PG_BINDIR: pgBin(),
  POSTGRES_PASSWORD_FILE: secret,
  PGSWARM_REPMGR_PASSWORD_FILE: secret,
  PGSWARM_CA_CERT_FILE: path.join(dir, 'ca', 'ca.crt'),
  PGSWARM_CA_KEY_FILE: path.join(dir, 'ca', 'ca.key'),
  PGSWARM_CONNECT_TIMEOUT_SECS: '1',
  PGSWARM_LOG_LEVEL: 'info',
});

t.before(async () => {
  const ca = await createCa(path.join(dir, 'ca'));
  fs.chmodSync(path.join(dir, 'ca'), 0o755);
  fs.chmodSync(ca.cert, 0o644);
});

t.test('pgnode as a witness with data-node settings and a bad address: every error at once, exit 64, nothing created', async (t) => {
  const home = path.join(dir, 'bad-witness');
  const r = spawnSync(process.execPath, [PGNODE], { env: { ...witnessEnv(home), PGSWARM_SYNC_MODE: 'strict', PGSWARM_BOOTSTRAP_NODE: 'n1', PGSWARM_WITNESS: 'w1@127.0.0.1:16041' }, encoding: 'utf8', timeout: 30000 });
  t.equal(r.status, 64, 'exit 64');
  t.match(r.stderr, /PGSWARM_WITNESS: 127\.0\.0\.1:16041 is the address of a data node/);
  t.match(r.stderr, /PGSWARM_ROLE=witness: PGSWARM_BOOTSTRAP_NODE, PGSWARM_SYNC_MODE are data-node settings/);
  t.match(r.stderr, /Nothing was changed/);
  t.notOk(fs.existsSync(home), 'the volume was not even created');
});

t.test('a data node in strict mode with two data nodes and no witness: refused before touching anything', async (t) => {
  const home = path.join(dir, 'bad-data');
  const env = { ...witnessEnv(home), PGSWARM_ROLE: 'data', PGSWARM_NODE_NAME: 'n1', PGSWARM_NODE_ID: '1', PGSWARM_BOOTSTRAP_NODE: 'n1', PGSWARM_SYNC_MODE: 'strict' } as Record<string, string>;
  delete env.PGSWARM_WITNESS;
  const r = spawnSync(process.execPath, [PGNODE], { env, encoding: 'utf8', timeout: 30000 });
  t.equal(r.status, 64);
  t.match(r.stderr, /strict with two data nodes needs a witness/);
  t.notOk(fs.existsSync(home));
});

t.test('pgproxy with a witness named like a data node: exit 2, listed with the other errors', async (t) => {
  const r = spawnSync(process.execPath, [PGPROXY], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGSWARM_PROXY_NAME: 'p1', PGSWARM_PEERS: 'n1@127.0.0.1:16041,n2@127.0.0.2:16042', PGSWARM_WITNESS: 'n2@127.0.0.3:16043', PGSWARM_CA_CERT_FILE: '/nonexistent', PGSWARM_STATS_PASSWORD: 's' },
    encoding: 'utf8', timeout: 30000,
  });
  t.equal(r.status, 2);
  t.match(r.stderr, /PGSWARM_WITNESS: n2 is also a data node/);
  t.match(r.stderr, /PGSWARM_AUTH_PASSWORD: required/);
});

t.test('a witness started on a data node\'s volume refuses (exit 3) and leaves the data untouched', async (t) => {
  const home = path.join(dir, 'data-volume');
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  fs.writeFileSync(path.join(home, 'setup-done.json'), JSON.stringify({ systemId: '7300000000000000001', node: 'n1', setupAt: new Date().toISOString() }) + '\n');
  fs.writeFileSync(path.join(home, 'data', 'PG_VERSION'), '15\n');
  fs.writeFileSync(path.join(home, 'data', 'precious'), 'data\n');
  const before = fs.readdirSync(path.join(home, 'data')).sort();
  const r = spawnSync(process.execPath, [PGNODE], { env: witnessEnv(home), encoding: 'utf8', timeout: 60000 });
  t.equal(r.status, 3, `exit 3 (${(r.stdout + r.stderr).split('\n').filter((l) => l.includes('"decision"')).join(' ').slice(0, 300)})`);
  t.match(r.stdout + r.stderr, /"rule":"data-volume"/);
  t.same(fs.readdirSync(path.join(home, 'data')).sort(), before, 'PGDATA unchanged');
  t.equal(fs.readFileSync(path.join(home, 'data', 'precious'), 'utf8'), 'data\n');
});

t.test('a witness on an empty volume with no data node up yet initialises its metadata-only server and keeps running', async (t) => {
  const home = path.join(dir, 'fresh');
  const { spawn } = await import('node:child_process');
  const out = fs.openSync(path.join(dir, 'fresh.log'), 'a');
  const p = spawn(process.execPath, [PGNODE], { env: witnessEnv(home), stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  try {
    const deadline = Date.now() + 120000;
    let state: { phase?: string; decision?: { rule?: string } } = {};
    while (Date.now() < deadline) {
      try { state = JSON.parse(fs.readFileSync(path.join(home, 'state', 'state.json'), 'utf8')); } catch { state = {}; }
      if (state.phase === 'running' || p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    t.equal(state.phase, 'running', `running (exit ${p.exitCode})`);
    t.equal(state.decision?.rule, 'unregistered-no-primary', 'not registered yet: no primary to register with');
    const marker = JSON.parse(fs.readFileSync(path.join(home, 'setup-done.json'), 'utf8'));
    t.equal(marker.role, 'witness');
    t.equal(marker.registeredWith, null);
    t.notOk(fs.existsSync(path.join(home, 'data', 'postgresql.conf')), 'no configuration inside PGDATA');
    t.match(fs.readFileSync(path.join(home, 'conf', 'pg_hba.conf'), 'utf8'), /^hostssl/m);
    t.notMatch(fs.readFileSync(path.join(home, 'conf', 'pg_hba.conf'), 'utf8'), /trust/);
  } finally {
    try { process.kill(-p.pid!, 'SIGTERM'); } catch { /* gone */ }
    await new Promise((r) => setTimeout(r, 3000));
    try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
});

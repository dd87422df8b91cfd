import t from 'tap';
import { parseNodeConfig } from '../../src/core/node-config';

const readFile = (p: string) => {
  if (p === '/run/secrets/pg') return 'pg-secret\n';
  throw new Error('ENOENT');
};
const base = {
  PGSWARM_NODE_NAME: 'n1',
  PGSWARM_NODE_ID: '1',
  PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432,n3@h3:5432',
  PGSWARM_BOOTSTRAP_NODE: 'n1',
  POSTGRES_PASSWORD_FILE: '/run/secrets/pg',
  PGSWARM_REPMGR_PASSWORD: 'r',
  PGSWARM_CA_CERT_FILE: '/ca.crt',
  PGSWARM_CA_KEY_FILE: '/ca.key',
};
const two = { ...base, PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432' };

interface Case { name: string; env: Record<string, string>; errors: RegExp[] }
const cases: Case[] = [
  { name: 'defaults: async, fencing after 6 s', env: base, errors: [] },
  { name: 'strict with three data nodes', env: { ...base, PGSWARM_SYNC_MODE: 'strict' }, errors: [] },
  { name: 'strict with two data nodes and a witness (2+1)', env: { ...two, PGSWARM_SYNC_MODE: 'strict', PGSWARM_WITNESS: 'w1@h9:5432' }, errors: [] },
  { name: 'strict with two data nodes and no witness', env: { ...two, PGSWARM_SYNC_MODE: 'strict' }, errors: [/PGSWARM_SYNC_MODE: strict with two data nodes needs a witness/] },
  { name: 'degrade with two data nodes and no witness', env: { ...two, PGSWARM_SYNC_MODE: 'degrade' }, errors: [/needs a witness/] },
  { name: 'strict on a single node', env: { ...base, PGSWARM_PEERS: 'n1@h1:5432', PGSWARM_SYNC_MODE: 'strict' }, errors: [/needs at least two data nodes/] },
  { name: 'unknown mode', env: { ...base, PGSWARM_SYNC_MODE: 'quorum' }, errors: [/PGSWARM_SYNC_MODE: must be one of async, strict, degrade/] },
  { name: 'a degrade timeout without degrade mode is contradictory', env: { ...base, PGSWARM_SYNC_MODE: 'strict', PGSWARM_DEGRADE_AFTER_MS: '5000' }, errors: [/PGSWARM_DEGRADE_AFTER_MS: only meaningful with PGSWARM_SYNC_MODE=degrade/] },
  { name: 'degrade with a zero timeout', env: { ...base, PGSWARM_SYNC_MODE: 'degrade', PGSWARM_DEGRADE_AFTER_MS: '0' }, errors: [/must be above 0/] },
  { name: 'witness named like a data node', env: { ...base, PGSWARM_WITNESS: 'n2@h9:5432' }, errors: [/PGSWARM_WITNESS: n2 is also a data node/] },
  { name: 'witness at a data node\'s address', env: { ...base, PGSWARM_WITNESS: 'w1@h2:5432' }, errors: [/PGSWARM_WITNESS: h2:5432 is the address of a data node/] },
  { name: 'malformed witness', env: { ...base, PGSWARM_WITNESS: 'witness' }, errors: [/PGSWARM_WITNESS: "witness" is not name@host:port/] },
  { name: 'fencing faster than two probe rounds', env: { ...base, PGSWARM_FENCE_AFTER_MS: '3000' }, errors: [/PGSWARM_FENCE_AFTER_MS: 3000 ms is shorter than two probe rounds/] },
  { name: 'a detach lease shorter than three probe rounds', env: { ...base, PGSWARM_DETACH_LEASE_MS: '5000' }, errors: [/PGSWARM_DETACH_LEASE_MS: 5000 ms is shorter than three probe rounds/] },
  { name: 'fencing off is allowed', env: { ...base, PGSWARM_FENCE_AFTER_MS: '0' }, errors: [] },
  { name: 'a tick below 100 ms', env: { ...base, PGSWARM_SYNC_INTERVAL_MS: '10' }, errors: [/PGSWARM_SYNC_INTERVAL_MS: must be at least 100/] },
  {
    name: 'every zero-loss problem at once',
    env: { ...two, PGSWARM_SYNC_MODE: 'strict', PGSWARM_DEGRADE_AFTER_MS: '1', PGSWARM_FENCE_AFTER_MS: '1000', PGSWARM_PROXIES: 'bad' },
    errors: [/needs a witness/, /only meaningful/, /shorter than two probe rounds/, /PGSWARM_PROXIES/],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { config, errors } = parseNodeConfig({ env: c.env, readFile });
    t.equal(errors.length, c.errors.length, errors.join('\n'));
    for (const re of c.errors) t.ok(errors.some((e) => re.test(e)), `an error matches ${re}`);
    if (!c.errors.length) t.ok(config);
    else t.equal(config, undefined, 'no config when anything is wrong');
  });
}

t.test('values reach the config', async (t) => {
  const { config } = parseNodeConfig({ env: { ...base, PGSWARM_SYNC_MODE: 'degrade', PGSWARM_DEGRADE_AFTER_MS: '2500', PGSWARM_FENCE_AFTER_MS: '9000', PGSWARM_WITNESS: 'w1@h9:5433' }, readFile });
  t.equal(config!.syncMode, 'degrade');
  t.equal(config!.degradeAfterMs, 2500);
  t.equal(config!.fenceAfterMs, 9000);
  t.same(config!.witness, { name: 'w1', host: 'h9', port: 5433, sshPort: 2222 });
  const d = parseNodeConfig({ env: base, readFile }).config!;
  t.equal(d.syncMode, 'async');
  t.equal(d.fenceAfterMs, 6000);
  t.equal(d.syncIntervalMs, 500);
});

import t from 'tap';
import { parseNodeConfig } from '../../src/core/node-config';
import { parseProxyConfig } from '../../src/core/proxy-config';

// Bad input for the 2+1 topology: every problem listed at once, no config (so nothing is touched).
const readFile = (p: string) => {
  if (p.startsWith('/run/secrets/')) return 'secret\n';
  throw new Error('ENOENT');
};
const witness = {
  PGSWARM_ROLE: 'witness',
  PGSWARM_NODE_NAME: 'w1',
  PGSWARM_NODE_ID: '3',
  PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432',
  PGSWARM_WITNESS: 'w1@hw:5432',
  POSTGRES_PASSWORD_FILE: '/run/secrets/pg',
  PGSWARM_REPMGR_PASSWORD_FILE: '/run/secrets/repmgr',
  PGSWARM_CA_CERT_FILE: '/ca.crt',
  PGSWARM_CA_KEY_FILE: '/ca.key',
};
const data = {
  PGSWARM_NODE_NAME: 'n1',
  PGSWARM_NODE_ID: '1',
  PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432',
  PGSWARM_BOOTSTRAP_NODE: 'n1',
  PGSWARM_SYNC_MODE: 'strict',
  PGSWARM_WITNESS: 'w1@hw:5432',
  POSTGRES_PASSWORD_FILE: '/run/secrets/pg',
  PGSWARM_REPMGR_PASSWORD_FILE: '/run/secrets/repmgr',
  PGSWARM_CA_CERT_FILE: '/ca.crt',
  PGSWARM_CA_KEY_FILE: '/ca.key',
};

interface Case { name: string; env: Record<string, string | undefined>; errors: RegExp[] }
const cases: Case[] = [
  { name: 'a good witness', env: witness, errors: [] },
  { name: 'a good 2+1 data node', env: data, errors: [] },
  { name: 'witness role without PGSWARM_WITNESS', env: { ...witness, PGSWARM_WITNESS: undefined }, errors: [/PGSWARM_WITNESS: required with PGSWARM_ROLE=witness/] },
  { name: 'witness whose PGSWARM_WITNESS names another', env: { ...witness, PGSWARM_WITNESS: 'w9@hw:5432' }, errors: [/names w9, but this witness is PGSWARM_NODE_NAME=w1/] },
  { name: 'witness listed among the data nodes', env: { ...witness, PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432,w1@hw:5432' }, errors: [/PGSWARM_WITNESS: w1 is also a data node/, /w1 is listed as a data node, but PGSWARM_ROLE=witness/] },
  { name: 'witness at a data node\'s address', env: { ...witness, PGSWARM_WITNESS: 'w1@h2:5432' }, errors: [/h2:5432 is the address of a data node/] },
  { name: 'witness on a data node\'s ssh address', env: { ...witness, PGSWARM_WITNESS: 'w1@h2:6000:2222' }, errors: [/ssh port h2:2222 is a data node's ssh address/] },
  { name: 'malformed witness address', env: { ...witness, PGSWARM_WITNESS: 'w1@:x' }, errors: [/PGSWARM_WITNESS: "w1@:x" is not name@host:port/] },
  { name: 'witness for a single data node', env: { ...witness, PGSWARM_PEERS: 'n1@h1:5432' }, errors: [/referees between at least two data nodes/] },
  { name: 'witness given data-node settings: all named in one error', env: { ...witness, PGSWARM_BOOTSTRAP_NODE: 'n1', PGSWARM_SYNC_MODE: 'strict', POSTGRES_DB: 'app', PGSWARM_FENCE_AFTER_MS: '5000' }, errors: [/PGSWARM_ROLE=witness: PGSWARM_BOOTSTRAP_NODE, POSTGRES_DB, PGSWARM_SYNC_MODE, PGSWARM_FENCE_AFTER_MS are data-node settings/] },
  { name: 'witness given a data-node secret', env: { ...witness, PGSWARM_AUTH_PASSWORD_FILE: '/run/secrets/auth' }, errors: [/PGSWARM_AUTH_PASSWORD is a data-node setting/] },
  { name: 'witness with the setup port equal to its port', env: { ...witness, PGSWARM_SETUP_PORT: '5432' }, errors: [/PGSWARM_SETUP_PORT: must differ from this witness's public port/] },
  { name: 'unknown role', env: { ...witness, PGSWARM_ROLE: 'arbiter' }, errors: [/PGSWARM_ROLE: must be one of data, witness/] },
  { name: 'data node without a bootstrap node', env: { ...data, PGSWARM_BOOTSTRAP_NODE: undefined }, errors: [/PGSWARM_BOOTSTRAP_NODE: required/] },
  { name: 'strict with two data nodes and no witness (kept)', env: { ...data, PGSWARM_WITNESS: undefined }, errors: [/strict with two data nodes needs a witness/] },
  { name: 'contradictory sync settings on a 2+1 data node', env: { ...data, PGSWARM_DEGRADE_AFTER_MS: '3000' }, errors: [/PGSWARM_DEGRADE_AFTER_MS: only meaningful with PGSWARM_SYNC_MODE=degrade/] },
  {
    name: 'many witness problems at once',
    env: { ...witness, PGSWARM_WITNESS: 'w9@h1:5432', PGSWARM_PEERS: 'n1@h1:5432', PGSWARM_SYNC_MODE: 'strict', PGSWARM_NODE_ID: '0' },
    errors: [/h1:5432 is the address of a data node/, /at least two data nodes/, /PGSWARM_SYNC_MODE is a data-node setting/, /PGSWARM_NODE_ID: must be between/],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const env = Object.fromEntries(Object.entries(c.env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const { config, errors } = parseNodeConfig({ env, readFile });
    t.equal(errors.length, c.errors.length, errors.join('\n'));
    for (const re of c.errors) t.ok(errors.some((e) => re.test(e)), `an error matches ${re}`);
    if (!c.errors.length) t.ok(config);
    else t.equal(config, undefined, 'no config when anything is wrong');
  });
}

t.test('a witness config: self is the witness, members are the data nodes only, no sync or fencing', async (t) => {
  const { config } = parseNodeConfig({ env: witness, readFile });
  t.equal(config!.role, 'witness');
  t.same(config!.self, { name: 'w1', host: 'hw', port: 5432, sshPort: 2222 });
  t.same(config!.members.map((m) => m.name), ['n1', 'n2']);
  t.same(config!.witness, config!.self);
  t.equal(config!.syncMode, 'async');
  t.equal(config!.fenceAfterMs, 0);
  const d = parseNodeConfig({ env: data, readFile }).config!;
  t.equal(d.role, 'data', 'data is the default role');
});

const proxy = {
  PGSWARM_PROXY_NAME: 'p1',
  PGSWARM_PEERS: 'n1@h1:5432,n2@h2:5432',
  PGSWARM_CA_CERT_FILE: '/ca.crt',
  PGSWARM_PROXY_TLS_CERT_FILE: '/p.crt',
  PGSWARM_PROXY_TLS_KEY_FILE: '/p.key',
  PGSWARM_AUTH_PASSWORD: 'a',
  PGSWARM_STATS_PASSWORD: 's',
};
t.test('proxy: PGSWARM_WITNESS parsed and checked like the nodes\'', async (t) => {
  const ok = parseProxyConfig({ env: { ...proxy, PGSWARM_WITNESS: 'w1@hw:5432:2222' }, readFile });
  t.same(ok.errors, []);
  t.same(ok.config!.witness, { name: 'w1', host: 'hw', port: 5432, sshPort: 2222 });
  t.equal(parseProxyConfig({ env: proxy, readFile }).config!.witness, undefined, 'optional');
  const bad = parseProxyConfig({ env: { ...proxy, PGSWARM_WITNESS: 'n2@hw:5432', PGSWARM_POLL_INTERVAL_MS: '1' }, readFile });
  t.equal(bad.config, undefined);
  t.ok(bad.errors.some((e) => /PGSWARM_WITNESS: n2 is also a data node/.test(e)), bad.errors.join('\n'));
  t.ok(bad.errors.some((e) => /PGSWARM_POLL_INTERVAL_MS/.test(e)), 'listed together with the other errors');
  const addr = parseProxyConfig({ env: { ...proxy, PGSWARM_WITNESS: 'w1@h1:5432' }, readFile });
  t.ok(addr.errors.some((e) => /is the address of a data node/.test(e)));
});

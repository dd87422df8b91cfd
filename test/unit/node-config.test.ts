import t from 'tap';
import { parseNodeConfig } from '../../src/core/node-config';
import { parseSettings, configPathFromArgv } from '../../src/core/settings';

const files: Record<string, string> = { '/run/secrets/pg': 'pg-secret\n', '/run/secrets/repmgr': 'repmgr-secret\n', '/run/secrets/empty': '' };
const readFile = (p: string) => {
  if (p in files) return files[p];
  throw new Error('ENOENT: no such file');
};
const good = {
  PGSWARM_NODE_NAME: 'pgnode1',
  PGSWARM_NODE_ID: '1',
  PGSWARM_PEERS: 'pgnode1@pgnode1:5432,pgnode2@pgnode2:5432:22,pgnode3@10.0.0.3:5432',
  PGSWARM_BOOTSTRAP_NODE: 'pgnode1',
  POSTGRES_PASSWORD_FILE: '/run/secrets/pg',
  PGSWARM_REPMGR_PASSWORD_FILE: '/run/secrets/repmgr',
  PGSWARM_CA_CERT_FILE: '/run/secrets/ca.crt',
  PGSWARM_CA_KEY_FILE: '/run/secrets/ca.key',
};

t.test('a good configuration parses, secrets come from files', async (t) => {
  const { config, errors } = parseNodeConfig({ env: good, readFile });
  t.same(errors, []);
  t.equal(config!.superuserPassword, 'pg-secret', 'trailing newline of the secret file dropped');
  t.equal(config!.replPassword, 'repmgr-secret');
  t.equal(config!.members.length, 3);
  t.same(config!.members[1], { name: 'pgnode2', host: 'pgnode2', port: 5432, sshPort: 22 });
  t.equal(config!.pgdata, '/var/lib/pgswarm/data', 'PGDATA defaults inside the volume, config outside it');
  t.equal(config!.self.name, 'pgnode1');
});

t.test('every problem is reported at once', async (t) => {
  const { config, errors } = parseNodeConfig({
    env: {
      PGSWARM_NODE_NAME: 'Node One',
      PGSWARM_NODE_ID: 'one',
      PGSWARM_PEERS: 'pgnode1@h:99999,garbage,pgnode2@h:1,pgnode2@h:2',
      PGSWARM_PROXIES: 'nohostport,pgproxy:6432',
      PGSWARM_BOOTSTRAP_NODE: 'pgnode9',
      POSTGRES_PASSWORD: 'x',
      POSTGRES_PASSWORD_FILE: '/run/secrets/pg',
      PGSWARM_REPMGR_PASSWORD_FILE: '/run/secrets/missing',
      PGSWARM_SETUP_PORT: '0',
      PGSWARM_HOME: 'relative/path',
      PGSWARM_LOG_LEVEL: 'loud',
    },
    readFile,
  });
  t.equal(config, undefined);
  const expect = [
    /PGSWARM_NODE_NAME: must be lower-case/,
    /PGSWARM_NODE_ID: must be a whole number/,
    /PGSWARM_PEERS: "pgnode1@h:99999" has a port outside/,
    /PGSWARM_PEERS: "garbage" is not name@host:port/,
    /PGSWARM_PEERS: duplicate node names: pgnode2/,
    /PGSWARM_PROXIES: "nohostport" is not host:port/,
    /POSTGRES_PASSWORD: set either POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both/,
    /PGSWARM_REPMGR_PASSWORD_FILE: cannot read \/run\/secrets\/missing/,
    /PGSWARM_SETUP_PORT: must be a port number/,
    /PGSWARM_HOME: must be an absolute path/,
    /PGSWARM_LOG_LEVEL: must be one of/,
    /PGSWARM_CA_CERT_FILE: required/,
    /PGSWARM_CA_KEY_FILE: required/,
    /PGSWARM_STATS_PASSWORD: required when PGSWARM_PROXIES/,
  ];
  for (const re of expect) t.ok(errors.some((e) => re.test(e)), `reports ${re}`);
  t.ok(errors.length >= expect.length);
});

t.test('secrets never appear in error messages', async (t) => {
  const { errors } = parseNodeConfig({ env: { ...good, POSTGRES_PASSWORD_FILE: undefined, POSTGRES_PASSWORD: 'hunter2-secret', PGSWARM_NODE_ID: 'x' }, readFile });
  t.ok(errors.length > 0);
  t.notMatch(errors.join('\n'), /hunter2/);
});

t.test('cross-field checks', async (t) => {
  const r1 = parseNodeConfig({ env: { ...good, PGSWARM_NODE_NAME: 'pgnode7' }, readFile });
  t.ok(r1.errors.some((e) => /this node \(pgnode7\) is not in the list/.test(e)));
  const r2 = parseNodeConfig({ env: { ...good, PGSWARM_BOOTSTRAP_NODE: 'elsewhere' }, readFile });
  t.ok(r2.errors.some((e) => /PGSWARM_BOOTSTRAP_NODE: elsewhere is not in PGSWARM_PEERS/.test(e)));
  const r3 = parseNodeConfig({ env: { ...good, PGSWARM_SETUP_PORT: '5432' }, readFile });
  t.ok(r3.errors.some((e) => /must differ from this node's public port/.test(e)));
  const r4 = parseNodeConfig({ env: { ...good, POSTGRES_PASSWORD_FILE: '/run/secrets/empty' }, readFile });
  t.ok(r4.errors.some((e) => /is empty/.test(e)));
  const r5 = parseNodeConfig({ env: { ...good, PGSWARM_SIGNING_KEY: 'abc' }, readFile });
  t.ok(r5.errors.some((e) => /PGSWARM_VERIFY_KEY: required/.test(e)));
});

t.test('precedence: defaults < config file < environment; *_FILE in the file works too', async (t) => {
  const file = { ...good, PGSWARM_NODE_ID: '2', PGSWARM_SETUP_PORT: 6000, PGSWARM_PEERS: ['pgnode1@a:1', 'pgnode2@b:2'] };
  const fromFile = parseNodeConfig({ env: {}, file, readFile });
  t.same(fromFile.errors, []);
  t.equal(fromFile.config!.nodeId, 2);
  t.equal(fromFile.config!.setupPort, 6000);
  const envWins = parseNodeConfig({ env: { PGSWARM_NODE_ID: '3' }, file, readFile });
  t.equal(envWins.config!.nodeId, 3);
  const unknown = parseNodeConfig({ env: {}, file: { ...file, PGSWARM_TYPO: 1 }, readFile });
  t.ok(unknown.errors.some((e) => /unknown setting PGSWARM_TYPO/.test(e)));
});

t.test('--config on the command line', async (t) => {
  t.same(configPathFromArgv(['--config', '/etc/pgswarm.json']), { path: '/etc/pgswarm.json' });
  t.same(configPathFromArgv(['--config=/x.json']), { path: '/x.json' });
  t.same(configPathFromArgv([]), {});
  t.ok(configPathFromArgv(['--config']).error);
});

t.test('settings kinds', async (t) => {
  const r = parseSettings([
    { name: 'A', kind: 'bool', help: '' },
    { name: 'B', kind: 'bool', help: '' },
    { name: 'C', kind: 'duration-ms', help: '' },
  ], { env: { A: 'yes', B: 'maybe', C: '-5' }, readFile });
  t.equal(r.values.A, true);
  t.ok(r.errors.some((e) => /B: must be true or false/.test(e)));
  t.ok(r.errors.some((e) => /C: must not be negative/.test(e)));
});

t.test('PGSWARM_PROXY_CERT_NAMES: extra names for proxy certificates, never a node name or a wildcard', async (t) => {
  t.same(parseNodeConfig({ env: good, readFile }).config!.proxyCertNames, [], 'none by default');
  const ok = parseNodeConfig({ env: { ...good, PGSWARM_PROXY_CERT_NAMES: 'db.example.com,192.0.2.10' }, readFile });
  t.same(ok.errors, []);
  t.same(ok.config!.proxyCertNames, ['db.example.com', '192.0.2.10']);
  const bad = parseNodeConfig({ env: { ...good, PGSWARM_PROXY_CERT_NAMES: 'pgnode2,*.example.com' }, readFile });
  t.match(bad.errors.join('\n'), /"pgnode2" is a node's name/);
  t.match(bad.errors.join('\n'), /"\*\.example\.com" is not a host name/);
});

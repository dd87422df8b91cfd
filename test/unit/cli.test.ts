import t from 'tap';
import { parseArgs, parseDurationSeconds, helpText } from '../../src/cli/args';
import { COMMANDS } from '../../src/cli/commands';
import { connectionString, initPlan, SECRET_SPECS, secretName } from '../../src/cli/cluster-secrets';
import { buildStatus, lsnToBytes, renderStatus, NodeObservation } from '../../src/cli/status-view';
import { CurrentPrimary } from '../../src/core/current-primary';
import { appRoleSql, appRoleStep, superuserSqlArgv } from '../../src/cli/app-role';

t.test('parseArgs: commands, flags, sub-commands, every error at once', async (t) => {
  const cases: { argv: string[]; cmd?: string; sub?: string; flags?: Record<string, unknown>; pos?: string[]; errors: RegExp[] }[] = [
    { argv: ['status', '--json'], cmd: 'status', flags: { json: true, stack: 'pgswarm' }, errors: [] },
    { argv: ['status', '--stack=prod'], cmd: 'status', flags: { stack: 'prod' }, errors: [] },
    { argv: ['switchover', '--to', 'pgnode2'], cmd: 'switchover', flags: { to: 'pgnode2' }, errors: [] },
    { argv: ['token', 'create', '--name', 'px', '--ttl', '2h'], cmd: 'token', sub: 'create', flags: { name: 'px', ttl: '2h' }, errors: [] },
    { argv: ['token', 'revoke', 'abcdefgh12'], cmd: 'token', sub: 'revoke', pos: ['abcdefgh12'], errors: [] },
    { argv: ['logs', 'pgnode1', 'pgproxy1', '--follow'], cmd: 'logs', pos: ['pgnode1', 'pgproxy1'], flags: { follow: true }, errors: [] },
    { argv: ['down', '--volumes'], cmd: 'down', flags: { volumes: true }, errors: [] },
    { argv: ['frobnicate'], errors: [/unknown command "frobnicate"/] },
    { argv: ['token'], cmd: 'token', errors: [/expected one of create, revoke, list/] },
    { argv: ['token', 'burn'], cmd: 'token', errors: [/unknown sub-command "burn"/] },
    { argv: ['status', '--bogus', '--json=1', '--stack', 'Bad Name'], cmd: 'status', errors: [/unknown option --bogus/, /--json takes no value/, /unexpected argument|--stack: must be/] },
    { argv: ['switchover', '--to'], cmd: 'switchover', errors: [/--to needs a value/] },
    { argv: ['down', 'extra'], cmd: 'down', errors: [/unexpected argument\(s\): extra/] },
  ];
  for (const c of cases) {
    const a = parseArgs(c.argv, COMMANDS);
    t.equal(a.command, c.cmd, `${c.argv.join(' ')}: command`);
    if (c.sub) t.equal(a.sub, c.sub, `${c.argv.join(' ')}: sub`);
    for (const [k, v] of Object.entries(c.flags ?? {})) t.equal(a.flags[k], v, `${c.argv.join(' ')}: --${k}`);
    if (c.pos) t.same(a.positionals, c.pos, `${c.argv.join(' ')}: positionals`);
    t.equal(a.errors.length, c.errors.length, `${c.argv.join(' ')}: ${c.errors.length} error(s): ${a.errors.join(' | ')}`);
    for (const re of c.errors) t.ok(a.errors.some((e) => re.test(e)), `${c.argv.join(' ')}: error ${re}`);
  }
  t.ok(parseArgs([], COMMANDS).help, 'no arguments = help');
  t.ok(parseArgs(['up', '--help'], COMMANDS).help, '--help');
  t.match(helpText(COMMANDS, 'up'), /--no-build/, 'command help lists its flags');
  t.match(helpText(COMMANDS), /switchover/, 'general help lists commands');
});

t.test('parseDurationSeconds', async (t) => {
  const table: [string, number | null][] = [['90', 90], ['90s', 90], ['15m', 900], ['2h', 7200], ['7d', 604800], ['0', null], ['', null], ['1w', null], ['-5m', null], ['1.5h', null]];
  for (const [s, want] of table) t.equal(parseDurationSeconds(s), want, JSON.stringify(s));
});

t.test('initPlan: create, refuse, force, complete from the local copy', async (t) => {
  const all = SECRET_SPECS.map((s) => secretName('pg', s.key));
  const allFiles = SECRET_SPECS.map((s) => s.file);
  const cases: { name: string; in: Parameters<typeof initPlan>[0]; action: string; reason?: RegExp }[] = [
    { name: 'nothing yet', in: { localFiles: [], dockerSecrets: [], stack: 'pg', force: false, stackRunning: false }, action: 'create' },
    { name: 'secrets of another stack do not count', in: { localFiles: [], dockerSecrets: SECRET_SPECS.map((s) => secretName('other', s.key)), stack: 'pg', force: false, stackRunning: false }, action: 'create' },
    { name: 'complete cluster, no force', in: { localFiles: allFiles, dockerSecrets: all, stack: 'pg', force: false, stackRunning: false }, action: 'refuse', reason: /already has its secrets; use --force/ },
    { name: 'complete cluster, force, stack down', in: { localFiles: allFiles, dockerSecrets: all, stack: 'pg', force: true, stackRunning: false }, action: 'recreate' },
    { name: 'force while running', in: { localFiles: allFiles, dockerSecrets: all, stack: 'pg', force: true, stackRunning: true }, action: 'refuse', reason: /is running/ },
    { name: 'new swarm, local copy complete', in: { localFiles: allFiles, dockerSecrets: [], stack: 'pg', force: false, stackRunning: false }, action: 'complete' },
    { name: 'some docker secrets, no local copy', in: { localFiles: [], dockerSecrets: all.slice(0, 2), stack: 'pg', force: false, stackRunning: false }, action: 'refuse', reason: /missing and not in the local directory/ },
    { name: 'a password secret new in this version: generated for the existing cluster', in: { localFiles: allFiles.filter((f) => f !== 'enroll.password'), dockerSecrets: all.filter((n) => !n.endsWith('_enroll_password')), stack: 'pg', force: false, stackRunning: false }, action: 'complete', reason: /adding new enroll_password/ },
    { name: 'a token lost everywhere is not invented', in: { localFiles: allFiles.filter((f) => f !== 'proxy1.token'), dockerSecrets: all.filter((n) => !n.endsWith('_proxy1_token')), stack: 'pg', force: false, stackRunning: false }, action: 'refuse' },
    { name: 'only the local signing key', in: { localFiles: ['signing.key'], dockerSecrets: [], stack: 'pg', force: false, stackRunning: false }, action: 'refuse' },
  ];
  for (const c of cases) {
    const p = initPlan(c.in);
    t.equal(p.action, c.action, `${c.name}: ${p.reason}`);
    if (c.reason) t.match(p.reason, c.reason, `${c.name}: reason`);
  }
});

t.test('connectionString: verify-full, escaped parts, no password unless given', async (t) => {
  const s = connectionString({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'app', caFile: '/root/.pgswarm/x/ca.crt' });
  t.equal(s, 'postgresql://postgres@127.0.0.1:5432/app?sslmode=verify-full&sslrootcert=%2Froot%2F.pgswarm%2Fx%2Fca.crt');
  const p = connectionString({ host: 'h', port: 1, user: 'u@x', database: 'd b', caFile: 'c', password: 'p/w:' });
  t.equal(p, 'postgresql://u%40x:p%2Fw%3A@h:1/d%20b?sslmode=verify-full&sslrootcert=c');
});

const cp = (node: string, role: 'primary' | 'standby', primary: string | null, lsn: string, timeline = 2): CurrentPrimary => ({
  primary, node, role, timeline, lsn, upstream: role === 'standby' ? primary : null, members: [], reason: 'test',
});
const obs = (service: string, c: CurrentPrimary | null, extra: Partial<NodeObservation> = {}): NodeObservation => ({
  service, taskState: 'running', health: 'healthy', cp: c, lastDecision: { action: 'start-standby', reason: 'why' }, ...extra,
});

t.test('lsnToBytes', async (t) => {
  t.equal(lsnToBytes('0/0'), 0n);
  t.equal(lsnToBytes('1/0'), 4294967296n);
  t.equal(lsnToBytes('16/B374D848'), (0x16n << 32n) + 0xb374d848n);
  t.equal(lsnToBytes('garbage'), null);
  t.equal(lsnToBytes(null), null);
});

t.test('buildStatus: lag, agreement, problems', async (t) => {
  const healthy = buildStatus(
    [obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1', '0/3000100')), obs('pgnode2', cp('pgnode2', 'standby', 'pgnode1', '0/3000000')), obs('pgnode3', cp('pgnode3', 'standby', 'pgnode1', '0/3000100'))],
    [{ service: 'pgproxy1', taskState: 'running', health: 'healthy', publishedPort: 5432, primary: 'pgnode1' }],
  );
  t.equal(healthy.primary, 'pgnode1');
  t.same(healthy.nodes.map((n) => n.lagBytes), [0, 256, 0], 'lag in bytes behind the primary');
  t.same(healthy.problems, [], 'no problems');
  t.equal(healthy.nodes[1].decision, 'start-standby');

  const split = buildStatus([obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1', '0/1')), obs('pgnode2', cp('pgnode2', 'primary', 'pgnode2', '0/1'))], []);
  t.equal(split.primary, null, 'disagreement: no primary');
  t.match(split.problems.join('\n'), /disagree/);

  const down = buildStatus(
    [obs('pgnode1', null, { taskState: 'failed', health: 'failed' }), obs('pgnode2', null, { cpError: 'timed out' })],
    [{ service: 'pgproxy1', taskState: 'running', health: 'healthy', primary: 'pgnode3' }],
  );
  t.equal(down.nodes[0].role, 'down');
  t.equal(down.nodes[1].role, 'unknown');
  t.match(down.problems.join('\n'), /pgnode1: no running task/);
  t.match(down.problems.join('\n'), /pgnode2: current-primary failed: timed out/);
  t.match(down.problems.join('\n'), /no node reports a primary/);

  const starting = buildStatus([obs('pgnode1', null, { taskState: 'starting', health: 'starting', cpError: 'exit 3' })], []);
  t.equal(starting.nodes[0].role, 'unknown', 'a starting container is asked, not called down');
  t.match(starting.problems.join('\n'), /pgnode1: starting/);
  t.notMatch(starting.problems.join('\n'), /no running task/);

  const wrongProxy = buildStatus([obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1', '0/1'))], [{ service: 'pgproxy2', taskState: 'running', health: 'healthy', primary: 'pgnode2' }]);
  t.match(wrongProxy.problems.join('\n'), /pgproxy2 routes to pgnode2, nodes say pgnode1/);

  const text = renderStatus(healthy);
  t.match(text, /^primary: pgnode1/);
  t.match(text, /pgnode2\s+standby\s+healthy\s+256 B\s+2\s+start-standby\s+why/);
  t.match(text, /pgproxy1\s+healthy\s+5432\s+pgnode1/);
});

t.test('appRoleSql: a plain login role owning the database, only a verifier, quoting', async (t) => {
  const sql = appRoleSql('app', 'SCRAM-SHA-256$4096:abc$def:ghi', 'my"db');
  t.match(sql, /CREATE ROLE "app" LOGIN/);
  t.match(sql, /NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256\$4096:abc\$def:ghi'/);
  t.match(sql, /ALTER DATABASE "my""db" OWNER TO "app"/);
  t.match(appRoleSql("o'x", 'v', 'd'), /rolname OPERATOR\(pg_catalog\.=\) 'o''x'/, 'literals escaped');
  t.notMatch(sql, /[^(.]=[^)]/, 'every operator schema-qualified (no bare =)');
  t.notMatch(sql, /GRANT/, 'nothing to run inside the application database');
});

t.test('superuser SQL of the CLI: in the postgres database, search_path pinned (issue 13)', async (t) => {
  const step = appRoleStep('pw', 'app');
  t.equal(step.database, 'postgres', 'the app-role step runs in postgres, not in the database app owns');
  t.match(step.sql, /ALTER DATABASE "app" OWNER TO "app"/);
  const argv = superuserSqlArgv(step);
  t.same(argv.slice(0, 2), ['sh', '-c']);
  t.match(argv[2], /dbname=postgres /);
  t.match(argv[2], /options='-c search_path=pg_catalog,pg_temp'/, 'pinned in the startup packet');
  t.match(argv[2], /port=5432 /);
  t.match(argv[4], /^SET search_path = pg_catalog, pg_temp;\n/, 'and by a first SET');
  t.throws(() => superuserSqlArgv({ sql: 'SELECT 1', database: 'app' as 'postgres' }), /only in the postgres database/);
  for (const db of ['postgres', 'template1', 'repmgr']) t.throws(() => appRoleStep('pw', db), /POSTGRES_DB=.*would own a database the superuser/, `app may not own ${db}`);
});

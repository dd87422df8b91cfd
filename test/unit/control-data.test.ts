import t from 'tap';
import { parseControlData } from '../../src/core/control-data';
import { primaryFromShowDatabases } from '../../src/core/show-databases';

t.test('pg_controldata output', async (t) => {
  const out = `pg_control version number:            1300
Database system identifier:           7441234567890123456
Database cluster state:               shut down in recovery
Latest checkpoint's TimeLineID:       3
Min recovery ending loc's timeline:   4
`;
  t.same(parseControlData(out), { state: 'shut down in recovery', timeline: 4, systemId: '7441234567890123456' });
  t.equal(parseControlData('garbage'), null);
  t.equal(parseControlData(out.replace('3\n', 'x\n')), null);
});

t.test('which member a PgBouncer routes to', async (t) => {
  const members = [{ name: 'n1', host: 'pgnode1', port: 5432, sshPort: 22 }, { name: 'n2', host: 'pgnode2', port: 5432, sshPort: 22 }];
  const row = (name: string, host: string | null, port = 5432, paused = 0) => ({ name, host, port, paused });
  t.equal(primaryFromShowDatabases([row('pgbouncer', null), row('app', 'pgnode2')], members).primary, 'n2');
  t.equal(primaryFromShowDatabases([row('pgbouncer', null)], members).primary, null);
  t.equal(primaryFromShowDatabases([row('app', 'pgnode2', 5432, 1)], members).primary, null, 'paused');
  t.equal(primaryFromShowDatabases([row('app', 'pgnode1'), row('x', 'pgnode2')], members).primary, null, 'split routing');
  t.equal(primaryFromShowDatabases([row('app', 'elsewhere')], members).primary, null, 'unknown target');
  t.equal(primaryFromShowDatabases([row('app', 'pgnode1', 6000)], members).primary, null, 'wrong port');
  const addrs = new Map([['n1', ['10.0.0.5']], ['n2', ['10.0.0.7']]]);
  t.equal(primaryFromShowDatabases([row('app', '10.0.0.7')], members, addrs).primary, 'n2', 'routed by address');
  t.equal(primaryFromShowDatabases([row('app', '10.0.0.9')], members, addrs).primary, null, 'an address no member has');
});

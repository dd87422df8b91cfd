import t from 'tap';
import { notADataNode, resolveTopology, topologyOfServices } from '../../src/cli/topology';
import { parseArgs } from '../../src/cli/args';
import { COMMANDS } from '../../src/cli/commands';

t.test('--topology picks the stack file and the services waited for', async (t) => {
  t.equal(resolveTopology({}).topology!.file, 'stack.yml', 'default: three data nodes');
  const two = resolveTopology({ topology: '2plus1' }).topology!;
  t.equal(two.file, 'stack-2plus1.yml');
  t.same(two.dataNodes, ['pgnode1', 'pgnode2']);
  t.same(two.witnesses, ['pgwitness']);
  t.match(resolveTopology({ topology: '2+1' }).error!, /--topology: must be one of 3, 2plus1/);
  t.match(resolveTopology({ topology: '2plus1', file: 'x.yml' }).error!, /give one or the other/);
  t.equal(resolveTopology({ file: 'x.yml' }).topology!.name, '3', '--file alone keeps the default service list');
});

t.test('the deployed topology is read back from the stack\'s services', async (t) => {
  t.equal(topologyOfServices(['s_pgnode1', 's_pgnode2', 's_pgwitness', 's_pgproxy1'], 's').name, '2plus1');
  t.equal(topologyOfServices(['s_pgnode1', 's_pgnode2', 's_pgnode3'], 's').name, '3');
});

t.test('pgswarm up/deploy accept --topology', async (t) => {
  const a = parseArgs(['up', '--topology', '2plus1', '--no-build'], COMMANDS);
  t.same(a.errors, []);
  t.equal(a.flags.topology, '2plus1');
  t.same(parseArgs(['deploy', '--topology=2plus1'], COMMANDS).errors, []);
});

t.test('switchover targets: only the deployed topology\'s data nodes', async (t) => {
  const three = resolveTopology({}).topology!;
  const two = resolveTopology({ topology: '2plus1' }).topology!;
  t.equal(notADataNode(three, 'pgnode3', 'db'), null);
  t.match(notADataNode(two, 'pgnode3', 'db')!, /stack db \(topology 2plus1\) has no data node "pgnode3"; one of pgnode1, pgnode2/);
  t.match(notADataNode(two, 'pgwitness', 'db')!, /it is the witness, which holds no data/);
  t.equal(notADataNode(two, 'pgnode2', 'db'), null);
});

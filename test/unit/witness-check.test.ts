import t from 'tap';
import { witnessDisagreements, describeDisagreements } from '../../src/core/witness-check';
import { parseNodeAnswer, AskResult } from '../../src/core/node-answer';
import { formatCurrentPrimary, currentPrimary } from '../../src/core/current-primary';

const answer = (node: string, witness: string | null | undefined): AskResult => {
  const r = { ...currentPrimary(node, [{ name: 'n1', reachable: true, role: 'primary', timeline: 1, lsn: '0/1', upstream: null, streaming: false }]), ...(witness === undefined ? {} : { witness }) };
  return parseNodeAnswer(node, formatCurrentPrimary(r), r.primary ? 0 : 3);
};

t.test('answers carry the node\'s configured witness through the proxy\'s parser', async (t) => {
  const a = answer('n1', 'w1');
  t.equal(a.kind, 'ok');
  t.equal(a.kind === 'ok' && a.answer.witness, 'w1');
  const none = answer('n1', null);
  t.equal(none.kind === 'ok' && none.answer.witness, null);
  const old = answer('n1', undefined);
  t.equal(old.kind === 'ok' && 'witness' in old.answer, false, 'an older node that does not say: no field');
});

interface Case { name: string; configured: string | null; answers: Record<string, AskResult | undefined>; nodes: string[] }
const timeout: AskResult = { kind: 'timeout' };
const cases: Case[] = [
  { name: 'all agree on w1', configured: 'w1', answers: { n1: answer('n1', 'w1'), n2: answer('n2', 'w1'), w1: answer('w1', 'w1') }, nodes: [] },
  { name: 'nodes have a witness, the proxy not', configured: null, answers: { n1: answer('n1', 'w1'), n2: answer('n2', 'w1') }, nodes: ['n1', 'n2'] },
  { name: 'the proxy has a witness, the nodes not', configured: 'w1', answers: { n1: answer('n1', null), n2: answer('n2', null) }, nodes: ['n1', 'n2'] },
  { name: 'a different witness on one node', configured: 'w1', answers: { n1: answer('n1', 'w1'), n2: answer('n2', 'w2') }, nodes: ['n2'] },
  { name: 'silent nodes and older nodes are not counted as disagreeing', configured: 'w1', answers: { n1: timeout, n2: answer('n2', undefined), n3: undefined }, nodes: [] },
  { name: 'no witness anywhere', configured: null, answers: { n1: answer('n1', null) }, nodes: [] },
];
for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = witnessDisagreements(c.configured, c.answers);
    t.same(d.map((x) => x.node), c.nodes);
    if (d.length) t.match(describeDisagreements(c.configured, d), /PGSWARM_WITNESS differs/);
  });
}

import t from 'tap';
import { vote } from '../../src/core/vote';
import type { AskResult, NodeAnswer } from '../../src/core/node-answer';

// The proxy's vote in the 2+1 topology: two data nodes and a witness (referee without data).
const D = ['n1', 'n2'];
const W = ['w1'];

function ans(node: string, primary: string | null, role: NodeAnswer['role'], o: Partial<NodeAnswer> = {}): AskResult {
  return { kind: 'ok', answer: { primary, node, role, timeline: 1, lsn: '0/3000000', upstream: null, members: [], reason: 'test', ...o } };
}
const P = (node: string, tl = 1) => ans(node, node, 'primary', { timeline: tl });
const S = (node: string, upstream: string, tl = 1) => ans(node, upstream, 'standby', { upstream, timeline: tl });
const Wt = (node: string, primary: string | null) => ans(node, primary, 'witness', { timeline: null, lsn: null });
const timeout: AskResult = { kind: 'timeout', detail: 'no answer' };

interface Case { name: string; members?: string[]; witnesses?: string[]; answers: Record<string, AskResult | undefined>; primary: string | null; rule: string }

const cases: Case[] = [
  { name: 'healthy 2+1', answers: { n1: P('n1'), n2: S('n2', 'n1'), w1: Wt('w1', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: 'standby down: primary + witness are 2 of 3', answers: { n1: P('n1'), n2: timeout, w1: Wt('w1', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: 'witness down: primary + standby are 2 of 3', answers: { n1: P('n1'), n2: S('n2', 'n1'), w1: timeout }, primary: 'n1', rule: 'majority' },
  { name: 'old primary dead, standby promoted, witness names it', answers: { n1: timeout, n2: P('n2', 2), w1: Wt('w1', 'n2') }, primary: 'n2', rule: 'majority' },
  { name: 'proxy cut off with the old primary only: 1 of 3', answers: { n1: P('n1'), n2: timeout, w1: timeout }, primary: null, rule: 'no-majority' },
  { name: 'promoted standby alone (witness silent, old primary silent): 1 of 3', answers: { n1: timeout, n2: P('n2', 2), w1: timeout }, primary: null, rule: 'no-majority' },
  { name: 'witness alone names n1, n1 silent', answers: { n1: timeout, n2: timeout, w1: Wt('w1', 'n1') }, primary: null, rule: 'no-majority' },
  { name: 'witness and standby name n1 but n1 is silent', answers: { n1: timeout, n2: S('n2', 'n1'), w1: Wt('w1', 'n1') }, primary: null, rule: 'candidate-silent' },
  { name: 'a witness can never be chosen, even when it names itself', answers: { n1: timeout, n2: ans('n2', null, 'standby'), w1: Wt('w1', 'w1') }, primary: null, rule: 'no-majority' },
  { name: 'a witness answering role=primary is ignored', answers: { n1: P('n1'), n2: timeout, w1: ans('w1', 'n1', 'primary') }, primary: null, rule: 'no-majority' },
  { name: 'a data node answering role=witness is ignored', answers: { n1: P('n1'), n2: ans('n2', 'n1', 'witness'), w1: timeout }, primary: null, rule: 'no-majority' },
  { name: 'an answer signed by another name is ignored', answers: { n1: P('n1'), n2: timeout, w1: Wt('n2', 'n1') }, primary: null, rule: 'no-majority' },
  { name: 'split brain: both claim, witness and n2 itself settle on the newer one', answers: { n1: P('n1', 1), n2: P('n2', 2), w1: Wt('w1', 'n2') }, primary: 'n2', rule: 'majority-despite-conflict' },
  { name: 'split brain: witness names the older primary → older timeline refused', answers: { n1: P('n1', 1), n2: P('n2', 2), w1: Wt('w1', 'n1') }, primary: null, rule: 'conflict-older-timeline' },
  { name: 'witness says none, both data nodes agree', answers: { n1: P('n1'), n2: S('n2', 'n1'), w1: Wt('w1', null) }, primary: 'n1', rule: 'majority' },
  { name: 'no witness configured: two-node cluster needs both', witnesses: [], answers: { n1: P('n1'), n2: timeout, w1: Wt('w1', 'n1') }, primary: null, rule: 'no-majority' },
  { name: '3 data + witness: 4 voters, 3 needed', members: ['n1', 'n2', 'n3'], answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: timeout, w1: Wt('w1', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: '3 data + witness: 2 of 4 is not a majority', members: ['n1', 'n2', 'n3'], answers: { n1: P('n1'), n2: timeout, n3: timeout, w1: Wt('w1', 'n1') }, primary: null, rule: 'no-majority' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const v = vote(c.members ?? D, c.answers, c.witnesses ?? W);
    t.equal(v.primary, c.primary, `primary (${v.reason})`);
    t.equal(v.rule, c.rule, 'rule');
    t.ok(v.reason.length > 10, 'has a reason');
  });
}

t.test('the witness is listed among voters in the reason and tally', async (t) => {
  const v = vote(D, { n1: P('n1'), n2: timeout, w1: Wt('w1', 'n1') }, W);
  t.same(v.tally, { n1: ['n1', 'w1'] });
  t.match(v.reason, /2\/3, 2 needed/);
  const none = vote(D, { n1: P('n1'), n2: timeout, w1: timeout }, W);
  t.match(none.reason, /3 voters: 2 data \+ 1 witness/);
  t.same(Object.keys(none.ignored).sort(), ['n2', 'w1']);
});

t.test('a witness also listed as a data member is not counted twice', async (t) => {
  const v = vote(['n1', 'n2'], { n1: P('n1'), n2: timeout }, ['n2']);
  t.equal(v.primary, null);
  t.match(v.reason, /2 members/);
});

import t from 'tap';
import { vote, majorityOf } from '../../src/core/vote';
import type { AskResult, NodeAnswer } from '../../src/core/node-answer';

const M3 = ['n1', 'n2', 'n3'];
const M5 = ['n1', 'n2', 'n3', 'n4', 'n5'];

function ans(node: string, primary: string | null, role: NodeAnswer['role'], o: Partial<NodeAnswer> = {}): AskResult {
  return { kind: 'ok', answer: { primary, node, role, timeline: 1, lsn: '0/3000000', upstream: null, members: [], reason: 'test', ...o } };
}
const P = (node: string, tl = 1) => ans(node, node, 'primary', { timeline: tl });
const S = (node: string, upstream: string, tl = 1) => ans(node, upstream, 'standby', { upstream, timeline: tl });
const timeout: AskResult = { kind: 'timeout', detail: 'no answer in 1500 ms' };
const garbage: AskResult = { kind: 'garbage', detail: 'bad first line' };
const hostKey: AskResult = { kind: 'host-key-rejected', detail: 'unknown key' };
const err: AskResult = { kind: 'error', detail: 'ECONNREFUSED' };

interface Case { name: string; members: string[]; answers: Record<string, AskResult | undefined>; primary: string | null; rule: string; conflicts?: string[] }

const cases: Case[] = [
  { name: 'healthy cluster of 3', members: M3, answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: S('n3', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: 'one standby times out: still a majority', members: M3, answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: timeout }, primary: 'n1', rule: 'majority' },
  { name: 'one standby answers garbage: ignored', members: M3, answers: { n1: P('n1'), n2: garbage, n3: S('n3', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: 'unknown host key: ignored', members: M3, answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: hostKey }, primary: 'n1', rule: 'majority' },
  { name: 'minority partition with the old primary: no route', members: M3, answers: { n1: P('n1'), n2: timeout, n3: timeout }, primary: null, rule: 'no-majority' },
  { name: 'minority partition, others not even listed', members: M3, answers: { n1: P('n1') }, primary: null, rule: 'no-majority' },
  { name: 'only standbys answer, primary silent', members: M3, answers: { n1: timeout, n2: S('n2', 'n1'), n3: S('n3', 'n1') }, primary: null, rule: 'candidate-silent' },
  { name: 'majority names n1 but n1 says it is a standby', members: M3, answers: { n1: S('n1', 'n2'), n2: S('n2', 'n1'), n3: S('n3', 'n1') }, primary: null, rule: 'candidate-not-primary' },
  { name: 'majority names n1, n1 answers role=primary but names n2', members: M3, answers: { n1: ans('n1', 'n2', 'primary'), n2: S('n2', 'n1'), n3: S('n3', 'n1') }, primary: null, rule: 'candidate-not-primary' },
  { name: 'everyone says none', members: M3, answers: { n1: ans('n1', null, 'standby'), n2: ans('n2', null, 'standby'), n3: ans('n3', null, 'down') }, primary: null, rule: 'no-majority' },
  { name: 'nobody answers', members: M3, answers: { n1: timeout, n2: err, n3: garbage }, primary: null, rule: 'no-majority' },
  { name: 'after failover: n2 promoted, n3 follows, n1 dead', members: M3, answers: { n1: timeout, n2: P('n2', 2), n3: S('n3', 'n2', 2) }, primary: 'n2', rule: 'majority' },
  { name: 'split brain: old primary back unfenced, standby follows the new one', members: M3, answers: { n1: P('n1', 1), n2: P('n2', 2), n3: S('n3', 'n2', 2) }, primary: 'n2', rule: 'majority-despite-conflict', conflicts: ['n1'] },
  { name: 'split brain: standby still follows the old primary, new one on newer timeline → none', members: M3, answers: { n1: P('n1', 1), n2: P('n2', 2), n3: S('n3', 'n1', 1) }, primary: null, rule: 'conflict-older-timeline', conflicts: ['n2'] },
  { name: 'split brain: two claimants, the third silent → no majority', members: M3, answers: { n1: P('n1', 1), n2: P('n2', 2), n3: timeout }, primary: null, rule: 'no-majority' },
  { name: 'split brain in 5: majority names n2 but standbys follow n1 more', members: M5, answers: { n1: P('n1', 2), n2: P('n2', 2), n3: ans('n3', 'n2', 'standby', { upstream: 'n1' }), n4: ans('n4', 'n2', 'standby', { upstream: 'n1' }), n5: timeout }, primary: null, rule: 'conflict-standbys-follow-other', conflicts: ['n1'] },
  { name: 'five nodes, two down, three agree', members: M5, answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: S('n3', 'n1'), n4: timeout, n5: timeout }, primary: 'n1', rule: 'majority' },
  { name: 'five nodes, only two agree', members: M5, answers: { n1: P('n1'), n2: S('n2', 'n1'), n3: timeout, n4: timeout, n5: timeout }, primary: null, rule: 'no-majority' },
  { name: 'two-node cluster needs both', members: ['n1', 'n2'], answers: { n1: P('n1'), n2: timeout }, primary: null, rule: 'no-majority' },
  { name: 'two-node cluster, both agree', members: ['n1', 'n2'], answers: { n1: P('n1'), n2: S('n2', 'n1') }, primary: 'n1', rule: 'majority' },
  { name: 'single-node cluster', members: ['n1'], answers: { n1: P('n1') }, primary: 'n1', rule: 'majority' },
  { name: 'answer signed by another node is ignored', members: M3, answers: { n1: P('n1'), n2: S('n1', 'n1'), n3: timeout }, primary: null, rule: 'no-majority' },
  { name: 'votes for a non-member do not count', members: M3, answers: { n1: S('n1', 'evil'), n2: S('n2', 'evil'), n3: S('n3', 'evil'), evil: P('evil') }, primary: null, rule: 'no-majority' },
  { name: 'no members configured', members: [], answers: {}, primary: null, rule: 'no-members' },
];

t.test('majorityOf', async (t) => {
  t.equal(majorityOf(1), 1);
  t.equal(majorityOf(2), 2);
  t.equal(majorityOf(3), 2);
  t.equal(majorityOf(4), 3);
  t.equal(majorityOf(5), 3);
});

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = vote(c.members, c.answers);
    t.equal(r.primary, c.primary, `primary (${r.reason})`);
    t.equal(r.rule, c.rule, 'rule');
    t.ok(r.reason.length > 10, 'has a reason');
    if (c.conflicts) t.same(r.conflicts, c.conflicts, 'conflicts reported');
  });
}

t.test('ignored answers are reported with their kind', async (t) => {
  const r = vote(M3, { n1: P('n1'), n2: garbage, n3: hostKey });
  t.match(r.ignored.n2, /^garbage/);
  t.match(r.ignored.n3, /^host-key-rejected/);
  t.equal(r.primary, null, 'n1 alone is not a majority');
});

t.test('order of answers does not change the result', async (t) => {
  const a = { n1: P('n1', 1), n2: P('n2', 2), n3: S('n3', 'n2', 2) };
  const b = { n3: a.n3, n2: a.n2, n1: a.n1 };
  t.same(vote(M3, a).primary, vote(['n3', 'n2', 'n1'], b).primary);
});

t.test('a single claimant without majority is not reported as a conflict', async (t) => {
  const r = vote(M3, { n1: P('n1'), n2: timeout, n3: timeout });
  t.same(r.conflicts, []);
  const r2 = vote(M3, { n1: P('n1', 1), n2: P('n2', 2), n3: timeout });
  t.same(r2.conflicts.sort(), ['n1', 'n2'], 'two claimants are');
});

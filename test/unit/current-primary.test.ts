import t from 'tap';
import { currentPrimary, applySwitchoverHold, formatCurrentPrimary, parseCurrentPrimary, MemberView } from '../../src/core/current-primary';

const P = (name: string, timeline = 1): MemberView => ({ name, reachable: true, role: 'primary', timeline, lsn: '0/3000000', upstream: null, streaming: false });
const S = (name: string, upstream: string | null, streaming = true, timeline = 1): MemberView => ({ name, reachable: true, role: 'standby', timeline, lsn: '0/3000000', upstream, streaming });
const D = (name: string): MemberView => ({ name, reachable: false, error: 'timeout' });

const cases: { name: string; self: string; views: MemberView[]; primary: string | null; reason: RegExp }[] = [
  { name: 'healthy cluster', self: 'n2', views: [P('n1'), S('n2', 'n1'), S('n3', 'n1')], primary: 'n1', reason: /only node running as primary/ },
  { name: 'degraded: one standby down', self: 'n1', views: [P('n1'), D('n2'), S('n3', 'n1')], primary: 'n1', reason: /degraded: n2 unreachable/ },
  { name: 'primary down, nobody promoted yet', self: 'n2', views: [D('n1'), S('n2', 'n1', false), S('n3', 'n1', false)], primary: null, reason: /no reachable node runs as primary/ },
  { name: 'everything down but self standby', self: 'n3', views: [D('n1'), D('n2'), S('n3', null, false)], primary: null, reason: /no reachable/ },
  { name: 'two primaries, standby follows the new one', self: 'n3', views: [P('n1', 1), P('n2', 2), S('n3', 'n2')], primary: 'n2', reason: /trusting n2, followed by 1/ },
  { name: 'two primaries, standby follows the old one (not yet switched)', self: 'n3', views: [P('n1', 1), P('n2', 2), S('n3', 'n1')], primary: 'n1', reason: /trusting n1/ },
  { name: 'two primaries, no standby streams: newest timeline', self: 'n1', views: [P('n1', 1), P('n2', 2), S('n3', 'n1', false)], primary: 'n2', reason: /newest timeline 2/ },
  { name: 'two primaries, same timeline, nothing settles it', self: 'n1', views: [P('n1', 2), P('n2', 2), D('n3')], primary: null, reason: /reporting none/ },
  { name: 'two primaries, standbys split evenly, same timeline', self: 'n1', views: [P('n1', 2), P('n2', 2), S('n3', 'n1'), S('n4', 'n2')], primary: null, reason: /reporting none/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = currentPrimary(c.self, c.views);
    t.equal(r.primary, c.primary);
    t.match(r.reason, c.reason);
    t.equal(r.node, c.self);
    t.equal(r.members.length, c.views.length);
  });
}

t.test('format and parse round-trip', async (t) => {
  const r = currentPrimary('n2', [P('n1'), S('n2', 'n1')]);
  const text = formatCurrentPrimary(r);
  t.match(text, /^PRIMARY: n1\n/);
  t.same(parseCurrentPrimary(text), r);
  const none = currentPrimary('n2', [D('n1'), S('n2', null, false)]);
  t.match(formatCurrentPrimary(none), /^PRIMARY: none\n/);
  t.same(parseCurrentPrimary(formatCurrentPrimary(none)), none);
});

t.test('parse rejects garbage and inconsistent answers', async (t) => {
  for (const bad of ['', 'PRIMARY: n1', 'hello\n{}', 'PRIMARY: n1\nnot json', 'PRIMARY: n2\n{"primary":"n1","node":"n3","role":"standby"}', 'PRIMARY: n1\n{"primary":"n1","node":"n3","role":"king"}']) {
    t.equal(parseCurrentPrimary(bad), null, JSON.stringify(bad));
  }
});


import t from 'tap';
import { decideRole, Observation, RULES, ProxyAnswer, PeerProbe, LocalState } from '../../src/core/decide-role';

const SYS = '7300000000000000001';
const OTHER = '7399999999999999999';
const empty: LocalState = { pgdataEmpty: true, marker: null, inProgress: null, control: null };
const primaryData = (tl = 1): LocalState => ({ pgdataEmpty: false, marker: { systemId: SYS }, inProgress: null, control: { state: 'shut down', timeline: tl, systemId: SYS } });
const crashedPrimary = (tl = 1): LocalState => ({ ...primaryData(tl), control: { state: 'in production', timeline: tl, systemId: SYS } });
const standbyData = (tl = 1): LocalState => ({ pgdataEmpty: false, marker: { systemId: SYS }, inProgress: null, control: { state: 'shut down in recovery', timeline: tl, systemId: SYS } });
const says = (proxy: string, primary: string): ProxyAnswer => ({ proxy, status: 'primary', primary });
const none = (proxy: string): ProxyAnswer => ({ proxy, status: 'no-primary' });
const down = (proxy: string): ProxyAnswer => ({ proxy, status: 'unreachable', error: 'ECONNREFUSED' });
const up = (name: string, inRecovery: boolean, timeline = 1, systemId = SYS): PeerProbe => ({ name, reachable: true, inRecovery, timeline, systemId });
const detached = (name: string, timeline: number, by: string): PeerProbe => ({ name, reachable: true, inRecovery: true, timeline, systemId: SYS, detachedBy: by });
const gone = (name: string): PeerProbe => ({ name, reachable: false, error: 'timeout' });

function obs(o: Partial<Observation>): Observation {
  return { self: 'n1', isBootstrapNode: false, proxies: [], peers: [], local: empty, ...o };
}

interface Case { name: string; o: Observation; action: string; rule: string; target?: string }

const cases: Case[] = [
  { name: 'a witness\'s volume (marker role witness) → refuse, never start a data node on it', o: obs({ isBootstrapNode: true, local: { ...primaryData(), marker: { systemId: SYS, role: 'witness' } } }), action: 'refuse', rule: 'witness-volume' },
  { name: 'bootstrap node, nothing anywhere → init', o: obs({ isBootstrapNode: true, proxies: [down('p1')], peers: [gone('n2'), gone('n3')] }), action: 'init-primary', rule: 'empty-bootstrap' },
  { name: 'bootstrap node, proxies up with no primary, peers down → init', o: obs({ isBootstrapNode: true, proxies: [none('p1')], peers: [gone('n2')] }), action: 'init-primary', rule: 'empty-bootstrap' },
  { name: 'bootstrap node, a peer answers without primary → wait (no second cluster)', o: obs({ isBootstrapNode: true, proxies: [none('p1')], peers: [up('n2', true)] }), action: 'wait', rule: 'empty-bootstrap-peers-up' },
  { name: 'empty non-bootstrap node, proxy names n2 → clone from n2', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false)] }), action: 'clone-standby', rule: 'empty-clone', target: 'n2' },
  { name: 'empty bootstrap node but a primary exists → clone, never init', o: obs({ isBootstrapNode: true, proxies: [says('p1', 'n2')], peers: [up('n2', false)] }), action: 'clone-standby', rule: 'empty-clone', target: 'n2' },
  { name: 'empty node, proxies down, peer n3 runs as primary → clone from n3', o: obs({ proxies: [down('p1')], peers: [gone('n2'), up('n3', false)] }), action: 'clone-standby', rule: 'empty-clone', target: 'n3' },
  { name: 'empty non-bootstrap node, nobody → wait', o: obs({ proxies: [down('p1')], peers: [gone('n2')] }), action: 'wait', rule: 'empty-no-primary' },
  { name: 'empty node named primary by proxy → wait (unsafe to init)', o: obs({ isBootstrapNode: true, proxies: [says('p1', 'n1')] }), action: 'wait', rule: 'empty-named-primary' },
  { name: 'interrupted clone → discard partial', o: obs({ local: { pgdataEmpty: false, marker: null, inProgress: 'clone', control: null } }), action: 'discard-partial', rule: 'partial-setup' },
  { name: 'interrupted init → discard partial', o: obs({ local: { pgdataEmpty: false, marker: null, inProgress: 'init', control: { state: 'shut down', timeline: 1, systemId: SYS } } }), action: 'discard-partial', rule: 'partial-setup' },
  { name: 'interrupted rejoin, n2 primary of the same cluster → move aside and clone again', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 2)], local: { ...crashedPrimary(1), inProgress: 'rejoin' } }), action: 'reclone', rule: 'interrupted-rejoin', target: 'n2' },
  { name: 'interrupted rejoin with an unreadable control file, primary known → reclone (not refuse)', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 2)], local: { ...primaryData(1), control: null, inProgress: 'rejoin' } }), action: 'reclone', rule: 'interrupted-rejoin', target: 'n2' },
  { name: 'interrupted rejoin, no primary known → wait, never start it', o: obs({ proxies: [down('p1')], peers: [gone('n2'), gone('n3')], local: { ...primaryData(3), inProgress: 'rejoin' } }), action: 'wait', rule: 'interrupted-rejoin-wait' },
  { name: 'interrupted rejoin, primary unreachable though named → wait', o: obs({ proxies: [says('p1', 'n2')], peers: [gone('n2')], local: { ...primaryData(1), inProgress: 'rejoin' } }), action: 'wait', rule: 'interrupted-rejoin-wait' },
  { name: 'interrupted rejoin, the named primary runs another cluster → wait, data kept', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 2, OTHER)], local: { ...primaryData(1), inProgress: 'rejoin' } }), action: 'wait', rule: 'interrupted-rejoin-wait' },
  { name: 'foreign PGDATA without marker → refuse', o: obs({ isBootstrapNode: true, local: { pgdataEmpty: false, marker: null, inProgress: null, control: { state: 'shut down', timeline: 1, systemId: OTHER } } }), action: 'refuse', rule: 'foreign-data' },
  { name: 'PGDATA replaced under the marker → refuse', o: obs({ local: { ...primaryData(), control: { state: 'shut down', timeline: 1, systemId: OTHER } } }), action: 'refuse', rule: 'data-replaced' },
  { name: 'unreadable PGDATA → refuse', o: obs({ local: { pgdataEmpty: false, marker: { systemId: SYS }, inProgress: null, control: null } }), action: 'refuse', rule: 'unreadable-data' },
  { name: 'data from another cluster than the primary → refuse', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 1, OTHER)], local: standbyData() }), action: 'refuse', rule: 'other-cluster' },
  { name: 'proxies disagree → wait', o: obs({ proxies: [says('p1', 'n2'), says('p2', 'n3')], local: standbyData() }), action: 'wait', rule: 'proxies-disagree' },
  { name: 'one proxy down, the other names n2 → follow n2', o: obs({ proxies: [down('p1'), says('p2', 'n2')], peers: [up('n2', false)], local: standbyData() }), action: 'start-standby', rule: 'standby-follow', target: 'n2' },
  { name: 'proxies silent, two peers claim primary → wait', o: obs({ proxies: [none('p1')], peers: [up('n2', false), up('n3', false)], local: standbyData() }), action: 'wait', rule: 'peers-claim-several' },
  { name: 'standby restart, proxy names n2 → start standby following n2', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false)], local: standbyData() }), action: 'start-standby', rule: 'standby-follow', target: 'n2' },
  { name: 'primary restart, proxy names self → start primary', o: obs({ proxies: [says('p1', 'n1')], local: primaryData() }), action: 'start-primary', rule: 'named-primary' },
  { name: 'named primary but data is a standby → wait', o: obs({ proxies: [says('p1', 'n1')], local: standbyData() }), action: 'wait', rule: 'named-primary-but-standby-data' },
  { name: 'standby that missed a promotion (older timeline) → rejoin with rewind', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 3)], local: standbyData(2) }), action: 'rejoin', rule: 'standby-older-timeline', target: 'n2' },
  { name: 'old primary, cluster failed over to n2 → rejoin with rewind', o: obs({ proxies: [says('p1', 'n2')], peers: [up('n2', false, 2)], local: crashedPrimary(1) }), action: 'rejoin', rule: 'old-primary-rejoin', target: 'n2' },
  { name: 'old primary, proxies down, peer n3 primary → rejoin from n3', o: obs({ proxies: [down('p1')], peers: [gone('n2'), up('n3', false, 2)], local: primaryData(1) }), action: 'rejoin', rule: 'old-primary-rejoin', target: 'n3' },
  { name: 'whole cluster cold start: old primary, nobody else up → start primary', o: obs({ proxies: [down('p1')], peers: [gone('n2'), gone('n3')], local: primaryData(3) }), action: 'start-primary', rule: 'cold-start-old-primary' },
  { name: 'cold start with proxies up but empty, standbys on same timeline → start primary', o: obs({ proxies: [none('p1')], peers: [up('n2', true, 3), up('n3', true, 3)], local: primaryData(3) }), action: 'start-primary', rule: 'cold-start-old-primary' },
  { name: 'fenced for a lost majority, restarted, only one peer answers (partition) → wait, no second primary', o: obs({ proxies: [down('p1'), down('p2')], peers: [up('n2', true, 2), gone('n3')], local: { ...primaryData(2), fencedAlone: true } }), action: 'wait', rule: 'fenced-primary-no-majority' },
  { name: 'fenced for a lost majority, restarted, the majority answers without a primary → cold start as primary', o: obs({ proxies: [none('p1'), none('p2')], peers: [up('n2', true, 2), gone('n3')], local: { ...primaryData(2), fencedAlone: true } }), action: 'start-primary', rule: 'cold-start-old-primary' },
  { name: 'fenced primary back after a partition: a standby was detached by n2, which is out of reach → wait (n2 may be primary on a newer timeline)', o: obs({ proxies: [none('p1'), none('p2')], peers: [gone('n2'), detached('n3', 3, 'n2')], local: { ...primaryData(3), fencedAlone: true } }), action: 'wait', rule: 'cold-start-promotion-possible' },
  { name: 'old primary restarted: a standby was detached by n2, which runs as primary unseen by the proxies → never a second primary', o: obs({ proxies: [down('p1')], peers: [gone('n2'), detached('n3', 3, 'n2')], local: crashedPrimary(3) }), action: 'wait', rule: 'cold-start-promotion-possible' },
  { name: 'a standby detached by n2, but n2 is still a standby on this timeline (its promotion did not happen) → cold start', o: obs({ proxies: [none('p1')], peers: [up('n2', true, 3), detached('n3', 3, 'n2')], local: primaryData(3) }), action: 'start-primary', rule: 'cold-start-old-primary' },
  { name: 'a standby detached by this node\'s own old guard → not evidence of another primary', o: obs({ proxies: [none('p1')], peers: [gone('n2'), detached('n3', 3, 'n1')], local: primaryData(3) }), action: 'start-primary', rule: 'cold-start-old-primary' },
  { name: 'stale primary: a standby has a later timeline → wait', o: obs({ proxies: [none('p1')], peers: [up('n2', true, 4)], local: primaryData(3) }), action: 'wait', rule: 'stale-primary' },
  { name: 'standby, nothing known → wait', o: obs({ proxies: [down('p1')], peers: [gone('n2')], local: standbyData() }), action: 'wait', rule: 'standby-no-primary' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decideRole(c.o);
    t.equal(d.action, c.action, d.reason);
    t.equal(d.rule, c.rule);
    t.ok(d.reason.length > 20, 'a human-readable reason');
    if (c.target) t.equal((d as { from?: string; follow?: string }).from ?? (d as { follow?: string }).follow, c.target);
  });
}

t.test('every rule of the table is reached by some case', async (t) => {
  const reached = new Set(cases.map((c) => decideRole(c.o).rule));
  for (const r of RULES) t.ok(reached.has(r.name), `rule ${r.name} reachable`);
});

t.test('never initialises when any data exists', async (t) => {
  for (const local of [primaryData(), standbyData(), crashedPrimary()]) {
    for (const proxies of [[], [down('p')], [none('p')]]) {
      const d = decideRole(obs({ isBootstrapNode: true, proxies, local }));
      t.not(d.action, 'init-primary');
    }
  }
});

t.test('never starts a primary when another node is named primary', async (t) => {
  for (const local of [primaryData(), crashedPrimary(), standbyData()]) {
    const d = decideRole(obs({ proxies: [says('p', 'n2')], peers: [up('n2', false, 2)], local }));
    t.not(d.action, 'start-primary');
    t.not(d.action, 'init-primary');
  }
});

import t from 'tap';
import { mayPromote, GuardInput, PeerLsn } from '../../src/core/promotion-guard';
import { emptyHistory, StandbyHistory } from '../../src/core/standby-history';

const NOW = 1_000_000;
const hist = (o: Partial<StandbyHistory> = {}): StandbyHistory => ({ ...emptyHistory('n2'), streamingAt: NOW - 1500, syncAt: NOW - 1500, receivedLsn: '0/5000000', upstream: 'n1', observedAt: NOW - 1500, syncAtObservation: true, othersStreaming: ['n3'], ...o });
const down = (name: string): PeerLsn => ({ name, reachable: false, error: 'connection refused' });
const sb = (name: string, lsn: string | null): PeerLsn => ({ name, reachable: true, inRecovery: true, receivedLsn: lsn });
const pri = (name: string): PeerLsn => ({ name, reachable: true, inRecovery: false, receivedLsn: '0/9000000' });
const base: GuardInput = { mode: 'strict', self: 'n2', selfReceivedLsn: '0/5000000', peers: [down('n1'), sb('n3', '0/5000000')], history: hist(), now: NOW, freshMs: 15000, detached: ['n3'] };

interface Case { name: string; in: Partial<GuardInput>; allow: boolean; rule: string }
const cases: Case[] = [
  // every mode
  { name: 'no history at all: never streamed, refused (pitfall 6)', in: { history: null }, allow: false, rule: 'never-streamed' },
  { name: 'history of a former life as primary (never streamed since): refused', in: { history: { ...emptyHistory('n2') } }, allow: false, rule: 'never-streamed' },
  { name: 'history of another node: refused', in: { history: hist({ node: 'n3' }) }, allow: false, rule: 'never-streamed' },
  { name: 'async mode never-streamed is refused too', in: { mode: 'async', history: null }, allow: false, rule: 'never-streamed' },
  { name: 'own LSN unreadable: refused', in: { selfReceivedLsn: null }, allow: false, rule: 'own-lsn-unknown' },
  { name: 'old primary still answers as primary: refused', in: { peers: [pri('n1'), sb('n3', '0/5000000')] }, allow: false, rule: 'primary-alive' },
  { name: 'a sibling was promoted already: refused', in: { peers: [down('n1'), pri('n3')] }, allow: false, rule: 'primary-alive' },
  { name: 'sibling received more WAL: refused', in: { peers: [down('n1'), sb('n3', '0/5000001')] }, allow: false, rule: 'behind-peer' },
  { name: 'async: sibling ahead refused as well', in: { mode: 'async', peers: [down('n1'), sb('n3', '1/0')] }, allow: false, rule: 'behind-peer' },
  // strict
  { name: 'strict: equal LSN with the reachable sibling: allowed', in: {}, allow: true, rule: 'most-advanced-of-all' },
  { name: 'strict: ahead of the reachable sibling: allowed', in: { peers: [down('n1'), sb('n3', '0/4000000')] }, allow: true, rule: 'most-advanced-of-all' },
  { name: 'strict: sibling LSN unknown: refused', in: { peers: [down('n1'), sb('n3', null)] }, allow: false, rule: 'peer-lsn-unknown' },
  { name: 'strict: sibling unreachable and was streaming: cannot know, refused', in: { peers: [down('n1'), down('n3')] }, allow: false, rule: 'sibling-unknown' },
  { name: 'strict: sibling unreachable, was not streaming, I was the only synchronous one: allowed', in: { peers: [down('n1'), down('n3')], history: hist({ othersStreaming: [] }) }, allow: true, rule: 'only-synchronous' },
  { name: 'strict: sibling unreachable, not streaming, but my view is stale: refused', in: { peers: [down('n1'), down('n3')], history: hist({ othersStreaming: [], observedAt: NOW - 60000 }) }, allow: false, rule: 'stale-view' },
  { name: 'strict: sibling unreachable, never looked at the primary: refused', in: { peers: [down('n1'), down('n3')], history: hist({ othersStreaming: [], observedAt: null }) }, allow: false, rule: 'stale-view' },
  { name: 'strict: sibling unreachable and I was not synchronous: refused', in: { peers: [down('n1'), down('n3')], history: hist({ othersStreaming: [], syncAtObservation: false }) }, allow: false, rule: 'not-synchronous' },
  { name: 'strict 2+1: no sibling, the old primary down: allowed', in: { peers: [down('n1')] }, allow: true, rule: 'most-advanced-of-all' },
  { name: 'strict: upstream unknown, so the unreachable old primary counts as a sibling that did not stream', in: { peers: [down('n1'), sb('n3', '0/1')], history: hist({ upstream: null, othersStreaming: ['n3'] }) }, allow: true, rule: 'only-synchronous' },
  // detaching the siblings first (a woken old primary must find no standby to confirm its commits)
  { name: 'not detached yet, would allow: detach the sibling first', in: { detached: undefined }, allow: false, rule: 'detach-first' },
  { name: 'async, not detached yet: detach first as well (final LSNs)', in: { mode: 'async', detached: undefined }, allow: false, rule: 'detach-first' },
  { name: 'not detached yet but already behind the sibling: refused without detaching', in: { detached: undefined, peers: [down('n1'), sb('n3', '0/5000001')] }, allow: false, rule: 'behind-peer' },
  { name: 'old primary answers: refused without detaching anyone', in: { detached: undefined, peers: [pri('n1'), sb('n3', '0/5000000')] }, allow: false, rule: 'primary-alive' },
  { name: 'strict: the sibling could not be detached: refused', in: { detached: [] }, allow: false, rule: 'sibling-attached' },
  { name: 'degrade: the sibling could not be detached: allowed (degrade accepts the risk)', in: { mode: 'degrade', detached: [] }, allow: true, rule: 'most-advanced-reachable' },
  { name: 'strict: only unreachable siblings: nothing to detach, allowed on the only-synchronous rule', in: { detached: undefined, peers: [down('n1'), down('n3')], history: hist({ othersStreaming: [] }) }, allow: true, rule: 'only-synchronous' },
  // async / degrade
  { name: 'degrade: sibling unreachable: allowed (degrade accepts the risk)', in: { mode: 'degrade', peers: [down('n1'), down('n3')] }, allow: true, rule: 'most-advanced-reachable' },
  { name: 'async: most advanced reachable: allowed', in: { mode: 'async' }, allow: true, rule: 'most-advanced-reachable' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = mayPromote({ ...base, ...c.in });
    t.equal(d.allow, c.allow, d.reason);
    t.equal(d.rule, c.rule);
    if (d.rule === 'detach-first') t.same(d.detach, ['n3'], 'names the sibling to detach');
    t.ok(d.reason.includes('n2') || d.reason.includes('n1') || d.reason.includes('n3'), 'the reason names the nodes');
  });
}

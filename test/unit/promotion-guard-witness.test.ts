import t from 'tap';
import { mayPromote, GuardInput, PeerLsn } from '../../src/core/promotion-guard';
import { emptyHistory, StandbyHistory } from '../../src/core/standby-history';

// The promotion guard in the 2+1 topology: two data nodes and a witness, strict mode.
const NOW = 1_000_000;
const hist = (o: Partial<StandbyHistory> = {}): StandbyHistory => ({ ...emptyHistory('n2'), streamingAt: NOW - 1500, syncAt: NOW - 1500, receivedLsn: '0/5000000', upstream: 'n1', observedAt: NOW - 1500, syncAtObservation: true, othersStreaming: [], ...o });
const down = (name: string): PeerLsn => ({ name, reachable: false, error: 'timeout' });
const sb = (name: string, lsn: string): PeerLsn => ({ name, reachable: true, inRecovery: true, receivedLsn: lsn });
const pri = (name: string): PeerLsn => ({ name, reachable: true, inRecovery: false, receivedLsn: '0/9000000' });
const base: GuardInput = { mode: 'strict', self: 'n2', selfReceivedLsn: '0/5000000', peers: [down('n1')], history: hist(), now: NOW, freshMs: 15000, witness: { name: 'w1', reachable: true } };

interface Case { name: string; in: Partial<GuardInput>; allow: boolean; rule: string }
const cases: Case[] = [
  { name: 'primary unreachable, witness reachable, was the synchronous standby: allowed', in: {}, allow: true, rule: 'most-advanced-of-all' },
  { name: 'primary and witness unreachable: refused (may be the one cut off)', in: { witness: { name: 'w1', reachable: false } }, allow: false, rule: 'no-majority' },
  { name: 'witness unreachable but the primary still answers: refused', in: { peers: [pri('n1')], witness: { name: 'w1', reachable: false } }, allow: false, rule: 'primary-alive' },
  { name: 'witness reachable, primary answers: refused', in: { peers: [pri('n1')] }, allow: false, rule: 'primary-alive' },
  { name: 'never streamed since it became a standby: refused even with the witness', in: { history: null }, allow: false, rule: 'never-streamed' },
  { name: 'async mode: no majority refused too', in: { mode: 'async', witness: { name: 'w1', reachable: false } }, allow: false, rule: 'no-majority' },
  { name: 'async mode with the witness: allowed', in: { mode: 'async' }, allow: true, rule: 'most-advanced-reachable' },
  { name: 'no witness configured: the rule does not apply (unchanged behaviour)', in: { witness: null }, allow: true, rule: 'most-advanced-of-all' },
  { name: '3 data + witness: self + sibling reachable, primary and witness down: 2 of 4, refused', in: { peers: [down('n1'), sb('n3', '0/5000000')], witness: { name: 'w1', reachable: false } }, allow: false, rule: 'no-majority' },
  { name: '3 data + witness: self + sibling + witness: 3 of 4, the sibling detached: allowed', in: { peers: [down('n1'), sb('n3', '0/5000000')], detached: ['n3'] }, allow: true, rule: 'most-advanced-of-all' },
  { name: '3 data + witness: self + sibling + witness, sibling not detached yet: detach it first', in: { peers: [down('n1'), sb('n3', '0/5000000')] }, allow: false, rule: 'detach-first' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = mayPromote({ ...base, ...c.in });
    t.equal(d.allow, c.allow, d.reason);
    t.equal(d.rule, c.rule);
  });
}

import t from 'tap';
import { decideWitness, WitnessObservation } from '../../src/core/witness-decide';
import { asWitnessAnswer } from '../../src/core/witness-answer';
import { currentPrimary } from '../../src/core/current-primary';

interface Case { name: string; obs: WitnessObservation; action: string; rule: string; target?: string | null }
const empty: WitnessObservation = { hasPgdata: false, inProgress: false, marker: null, primary: null };

const cases: Case[] = [
  { name: 'empty volume, no primary yet: init (needs no primary)', obs: empty, action: 'init', rule: 'empty' },
  { name: 'empty volume, primary known: init first', obs: { ...empty, primary: 'n1' }, action: 'init', rule: 'empty' },
  { name: 'a data node\'s volume: refuse', obs: { ...empty, hasPgdata: true, marker: { role: 'data' } }, action: 'refuse', rule: 'data-volume' },
  { name: 'a data node\'s marker without a role (older data nodes): refuse', obs: { ...empty, hasPgdata: true, marker: {} }, action: 'refuse', rule: 'data-volume' },
  { name: 'PGDATA without marker: refuse, never overwrite', obs: { ...empty, hasPgdata: true }, action: 'refuse', rule: 'foreign-pgdata' },
  { name: 'interrupted set-up: discard the partial copy', obs: { ...empty, hasPgdata: true, inProgress: true }, action: 'discard-partial', rule: 'partial-setup' },
  { name: 'set up, not registered, primary known: register', obs: { ...empty, hasPgdata: true, marker: { role: 'witness', registeredWith: null }, primary: 'n2' }, action: 'register', rule: 'unregistered', target: 'n2' },
  { name: 'set up, not registered, no primary: start and vote', obs: { ...empty, hasPgdata: true, marker: { role: 'witness' } }, action: 'start', rule: 'unregistered-no-primary', target: null },
  { name: 'registered, primary known: start and refresh registration', obs: { ...empty, hasPgdata: true, marker: { role: 'witness', registeredWith: 'n1' }, primary: 'n2' }, action: 'start', rule: 'registered', target: 'n2' },
  { name: 'registered, no primary: start and keep voting', obs: { ...empty, hasPgdata: true, marker: { role: 'witness', registeredWith: 'n1' } }, action: 'start', rule: 'registered-no-primary', target: null },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decideWitness(c.obs);
    t.equal(d.action, c.action, d.reason);
    t.equal(d.rule, c.rule);
    if (c.target !== undefined) t.equal(d.action === 'register' ? d.primary : d.action === 'start' ? d.register : undefined, c.target);
  });
}

t.test('the witness answers as role=witness, naming the primary it sees, with no data of its own', async (t) => {
  const r = asWitnessAnswer(currentPrimary('w1', [
    { name: 'n1', reachable: true, role: 'primary', timeline: 2, lsn: '0/5000000', upstream: null, streaming: false },
    { name: 'n2', reachable: false, error: 'timeout' },
  ]));
  t.equal(r.primary, 'n1');
  t.equal(r.node, 'w1');
  t.equal(r.role, 'witness');
  t.equal(r.timeline, null);
  t.equal(r.lsn, null);
  t.match(r.reason, /^witness: .*n1/);
  const none = asWitnessAnswer(currentPrimary('w1', [{ name: 'n1', reachable: false, error: 'x' }, { name: 'n2', reachable: false, error: 'x' }]));
  t.equal(none.primary, null);
  t.equal(none.role, 'witness');
});

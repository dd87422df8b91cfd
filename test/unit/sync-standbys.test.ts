import t from 'tap';
import { decideSyncStandbys, healthyStandbys, anyOne, standbySyncNames, ReplicationRow, SyncInput } from '../../src/core/sync-standbys';
import { compareLsn, parseLsn } from '../../src/core/lsn';

const row = (name: string, state = 'streaming', lsn = '0/3000000', syncState = 'quorum'): ReplicationRow => ({ name, state, syncState, flushLsn: lsn, replayLsn: lsn });
const base: SyncInput = { mode: 'strict', others: ['n2', 'n3'], replication: [], noHealthyForMs: 0, degradeAfterMs: 10000 };

interface Case { name: string; in: Partial<SyncInput>; names: string; degraded: boolean; rule: string; commit?: 'on'; reason?: RegExp }
const cases: Case[] = [
  { name: 'async: never waits, whatever streams', in: { mode: 'async', replication: [row('n2')] }, names: '', degraded: false, rule: 'async' },
  { name: 'strict, both streaming: any 1 of all others', in: { replication: [row('n2'), row('n3')] }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'strict', commit: 'on' },
  { name: 'strict, one streaming: still all others (the other may come back)', in: { replication: [row('n3')] }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'strict', commit: 'on' },
  { name: 'strict, none streaming: writes wait, never async', in: { replication: [], noHealthyForMs: 3_600_000 }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'strict-waiting', reason: /WAIT/ },
  { name: 'strict, only catching up: waiting', in: { replication: [row('n2', 'catchup')] }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'strict-waiting' },
  { name: 'strict ignores a non-member application_name', in: { replication: [row('pg_basebackup')] }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'strict-waiting' },
  { name: 'strict with no other data member: configuration error, flagged degraded', in: { others: [] }, names: '', degraded: true, rule: 'no-standby-configured' },
  { name: 'degrade, one streaming: only the healthy one', in: { mode: 'degrade', replication: [row('n3'), row('n2', 'catchup')] }, names: 'ANY 1 ("n3")', degraded: false, rule: 'degrade-sync', commit: 'on' },
  { name: 'degrade, both streaming: both, sorted', in: { mode: 'degrade', replication: [row('n3', 'streaming', '0/5000000'), row('n2')] }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'degrade-sync' },
  { name: 'degrade, none streaming, within the timeout: still waits', in: { mode: 'degrade', noHealthyForMs: 9999 }, names: 'ANY 1 ("n2", "n3")', degraded: false, rule: 'degrade-waiting' },
  { name: 'degrade, none streaming past the timeout: async, degraded, loud', in: { mode: 'degrade', noHealthyForMs: 10000 }, names: '', degraded: true, rule: 'degraded', reason: /DEGRADED.*LOSE/ },
  { name: 'degrade, recovered after degrading: synchronous again', in: { mode: 'degrade', noHealthyForMs: 0, replication: [row('n2')] }, names: 'ANY 1 ("n2")', degraded: false, rule: 'degrade-sync' },
  { name: 'names with a dash are quoted', in: { others: ['pg-2'], replication: [row('pg-2')] }, names: 'ANY 1 ("pg-2")', degraded: false, rule: 'strict' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decideSyncStandbys({ ...base, ...c.in });
    t.equal(d.synchronousStandbyNames, c.names);
    t.equal(d.degraded, c.degraded);
    t.equal(d.rule, c.rule);
    if (c.commit) t.equal(d.synchronousCommit, c.commit);
    if (c.reason) t.match(d.reason, c.reason);
    t.ok(d.reason.length > 10, 'has a reason');
  });
}

t.test('async never sets synchronous_commit', async (t) => {
  t.equal(decideSyncStandbys({ ...base, mode: 'async' }).synchronousCommit, undefined);
});

t.test('healthy standbys: most advanced first, duplicates dropped', async (t) => {
  t.same(healthyStandbys(['n2', 'n3'], [row('n2', 'streaming', '0/1'), row('n3', 'streaming', '1/0'), row('n3', 'streaming', '0/2')]), ['n3', 'n2']);
});

t.test('anyOne and the standby preset', async (t) => {
  t.equal(anyOne([]), '');
  t.equal(anyOne(['a"b']), 'ANY 1 ("a""b")');
  t.equal(standbySyncNames('async', ['n1', 'n3']), '');
  t.equal(standbySyncNames('strict', ['n3', 'n1']), 'ANY 1 ("n1", "n3")');
  t.equal(standbySyncNames('degrade', ['n1']), 'ANY 1 ("n1")');
});

t.test('LSN parsing and ordering', async (t) => {
  t.equal(parseLsn('0/0'), 0n);
  t.equal(parseLsn('1/0'), 1n << 32n);
  t.equal(parseLsn('16/B374D848'), (0x16n << 32n) + 0xb374d848n);
  for (const bad of [null, undefined, '', '0/', 'x/1', '1/2/3', '123456789/0']) t.equal(parseLsn(bad as string), null, `bad: ${String(bad)}`);
  t.equal(compareLsn('0/FFFFFFFF', '1/0'), -1, 'high word first');
  t.equal(compareLsn('1/A', '1/A'), 0);
  t.equal(compareLsn('2/0', '1/FFFFFFFF'), 1);
  t.equal(compareLsn(null, '0/0'), -1, 'unknown sorts below every real LSN');
  t.equal(compareLsn('0/0', null), 1);
});

import t from 'tap';
import { Ack, checkAcks, duplicateAcks, IdCounts } from '../../scripts/chaos/ack-check';
import { overlappingWindows, writeWindows } from '../../scripts/chaos/write-windows';
import { canAcknowledge, dualPrimaryWindows, ProbeSample, writableIntervals } from '../../scripts/chaos/probe-overlap';
import { errorKind, percentile, RunResult, summarize } from '../../scripts/chaos/summary';
import { parseChaosArgs } from '../../scripts/chaos/args';

const ack = (id: number, srv: string, tl: number, serverAt: number): Ack => ({ id, srv, tl, serverAt, startedAt: serverAt - 2, at: serverAt + 2, writer: 'w1' });
const counts = (...ids: number[]): IdCounts => {
  const m: IdCounts = new Map();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

t.test('checkAcks: lost on the primary, missing on a standby, duplicates, committed-but-unacknowledged', async (t) => {
  const acks = [ack(1, 'a', 1, 10), ack(2, 'a', 1, 20), ack(3, 'b', 2, 30)];
  const all = checkAcks(acks, 'n2', { n1: counts(1, 2, 3), n2: counts(1, 2, 3, 4), n3: counts(1, 2, 3) });
  t.same(all.lost, [], 'nothing lost');
  t.same(all.duplicatesByNode, { n1: [], n2: [], n3: [] }, 'no duplicates');
  t.equal(all.committedUnacknowledged, 1, 'id 4 committed without an acknowledgement (in flight): counted, allowed');

  const lost = checkAcks(acks, 'n2', { n1: counts(1, 2, 3), n2: counts(1, 3), n3: counts(1, 2) });
  t.same(lost.lost, [2], 'an acknowledged id missing on the final primary is lost');
  t.same(lost.missingByNode.n3, [3], 'a standby missing an acknowledged id is reported');
  t.same(lost.missingByNode.n1, [], 'a complete standby misses nothing');

  const dup = checkAcks(acks, 'n1', { n1: counts(1, 2, 2, 3, 3, 3) });
  t.same(dup.duplicatesByNode.n1, [2, 3], 'ids present more than once');

  const noPrimary = checkAcks(acks, 'n9', { n1: counts(1, 2, 3) });
  t.same(noPrimary.lost, [1, 2, 3], 'no rows from the named primary: everything counts as lost (never a silent pass)');
});

t.test('duplicateAcks: the same id acknowledged twice', async (t) => {
  t.same(duplicateAcks([ack(1, 'a', 1, 1), ack(2, 'a', 1, 2)]), []);
  t.same(duplicateAcks([ack(1, 'a', 1, 1), ack(2, 'a', 1, 2), ack(1, 'b', 2, 3)]), [1]);
});

t.test('write windows: one per server and timeline; overlapping windows are split brain', async (t) => {
  const clean = [ack(1, '10.0.0.5', 1, 100), ack(2, '10.0.0.5', 1, 200), ack(3, '10.0.0.6', 2, 900), ack(4, '10.0.0.6', 2, 1000)];
  const ws = writeWindows(clean);
  t.same(ws.map((w) => [w.key, w.from, w.to, w.count]), [['10.0.0.5/tl1', 100, 200, 2], ['10.0.0.6/tl2', 900, 1000, 2]]);
  t.same(overlappingWindows(ws), [], 'a failover: the old window ends before the new one starts');

  const split = [...clean, ack(5, '10.0.0.5', 1, 950)];
  const o = overlappingWindows(writeWindows(split));
  t.equal(o.length, 1, 'the old primary acknowledged a write after the new one started: split brain');
  t.same([o[0].a, o[0].b, o[0].from, o[0].to, o[0].ms], ['10.0.0.5/tl1', '10.0.0.6/tl2', 900, 950, 50]);

  const sameMs = overlappingWindows(writeWindows([ack(1, 'x', 1, 100), ack(2, 'y', 2, 100)]));
  t.equal(sameMs.length, 1, 'two servers acknowledging in the same millisecond overlap');

  const rewound = overlappingWindows(writeWindows([ack(1, 'x', 1, 100), ack(2, 'x', 2, 300), ack(3, 'x', 1, 400)]));
  t.equal(rewound.length, 1, 'the same server on two timelines at once is split brain too');
});

t.test('prober: writable = not in recovery and able to confirm a commit', async (t) => {
  const s = (over: Partial<ProbeSample>): ProbeSample => ({ node: 'n1', t: 0, ok: true, inRecovery: false, timeline: 1, ssn: 'ANY 1 ("n2", "n3")', syncStreaming: 1, ...over });
  t.ok(canAcknowledge(s({})), 'primary with a streaming quorum standby');
  t.notOk(canAcknowledge(s({ syncStreaming: 0 })), 'strict primary without a confirming standby cannot acknowledge');
  t.ok(canAcknowledge(s({ ssn: '', syncStreaming: 0 })), 'asynchronous (or degraded) primary acknowledges alone');
  t.notOk(canAcknowledge(s({ inRecovery: true })), 'a standby');
  t.notOk(canAcknowledge(s({ ok: false })), 'no answer');
  t.notOk(canAcknowledge(s({ inRecovery: undefined })), 'unknown recovery state');
});

t.test('prober intervals and dual-primary windows', async (t) => {
  const mk = (node: string, tl: number, from: number, to: number, step = 200): ProbeSample[] => {
    const out: ProbeSample[] = [];
    for (let x = from; x <= to; x += step) out.push({ node, t: x, ok: true, inRecovery: false, timeline: tl, ssn: '', syncStreaming: 0 });
    return out;
  };
  const handover = [...mk('n1', 1, 0, 1000), { node: 'n1', t: 1200, ok: false }, ...mk('n2', 2, 1400, 3000)];
  const iv = writableIntervals(handover);
  t.same(iv.map((i) => [i.node, i.from, i.to]), [['n1', 0, 1000], ['n2', 1400, 3000]]);
  t.same(dualPrimaryWindows(iv), [], 'clean handover');

  const gap = writableIntervals([...mk('n1', 1, 0, 400), ...mk('n1', 1, 2000, 2400)], 1000);
  t.equal(gap.length, 2, 'a gap longer than maxGapMs splits an interval (unknown is not writable)');

  const tlChange = writableIntervals([...mk('n1', 1, 0, 400), ...mk('n1', 2, 600, 1000)]);
  t.equal(tlChange.length, 2, 'a timeline change splits an interval');

  const split = writableIntervals([...mk('n1', 1, 0, 3000), ...mk('n2', 2, 2000, 4000)]);
  const d = dualPrimaryWindows(split);
  t.equal(d.length, 1, 'two nodes writable at once');
  t.same([d[0].nodes, d[0].from, d[0].to, d[0].ms], [['n1', 'n2'], 2000, 3000, 1000]);
});

t.test('summary: percentiles, counts, error kinds', async (t) => {
  t.equal(percentile([], 50), null);
  t.equal(percentile([5, 1, 3], 50), 3);
  t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  t.equal(errorKind('timeout 3000 ms at 10.0.0.5'), 'timeout N ms at N');
  const run = (over: Partial<RunResult>): RunResult => ({ run: 1, ok: true, recoveryMs: 1000, longestGapMs: 1200, check: checkAcks([ack(1, 'a', 1, 1)], 'n1', { n1: counts(1), n2: counts(1) }), duplicateAcks: [], ackOverlaps: [], probeDualPrimary: [], clientErrors: 2, clientErrorKinds: { x: 2 }, primaryBefore: 'n1', primaryAfter: 'n2', failures: [], notes: [], ...over });
  const lostRun = run({ ok: false, recoveryMs: 3000, check: checkAcks([ack(1, 'a', 1, 1), ack(2, 'a', 1, 2)], 'n1', { n1: counts(1), n2: counts(1) }) });
  const s = summarize('kill-primary', [run({}), lostRun, run({ recoveryMs: null })]);
  t.equal(s.runs, 3);
  t.equal(s.passed, 2);
  t.equal(s.lostAcknowledged, 1, 'lost acknowledged commits add up over runs');
  t.equal(s.missingOnStandbys, 1, 'missing on standbys excludes the primary\'s own losses');
  t.same(s.recoveryMs, { p50: 1000, p95: 3000, max: 3000, n: 2 }, 'a run without recovery is left out of the percentiles, not counted as 0');
  t.equal(s.clientErrors, 6);
  t.same(s.clientErrorKinds, { x: 6 });
});

t.test('arguments: every error at once; "all" expands', async (t) => {
  const known = ['a', 'b', 'c'];
  const d = { scenarios: ['a'], resultsDir: 'r' };
  t.same(parseChaosArgs(['--runs', '5', '--scenario', 'b,c'], known, d).args.scenarios, ['b', 'c']);
  t.equal(parseChaosArgs(['--runs=2'], known, d).args.runs, 2);
  t.same(parseChaosArgs(['--scenario', 'all'], known, d).args.scenarios, known);
  const bad = parseChaosArgs(['--runs', '0', '--scenario', 'x,a', '--what'], known, d);
  t.equal(bad.errors.length, 3, bad.errors.join('; '));
});

import t from 'tap';
import { Ack, checkAcks, IdCounts } from '../../scripts/chaos/ack-check';
import { errorKind, percentile, RunResult, summarize } from '../../scripts/chaos/summary';

const ack = (id: number, srv: string, tl: number, serverAt: number): Ack => ({ id, srv, tl, serverAt, startedAt: serverAt - 2, at: serverAt + 2, writer: 'w1' });
const counts = (...ids: number[]): IdCounts => {
  const m: IdCounts = new Map();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

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

import t from 'tap';
import { canAcknowledge, dualPrimaryWindows, ProbeSample, writableIntervals } from '../../scripts/chaos/probe-overlap';

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

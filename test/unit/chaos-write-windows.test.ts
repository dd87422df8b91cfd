import t from 'tap';
import { Ack } from '../../scripts/chaos/ack-check';
import { overlappingWindows, writeWindows } from '../../scripts/chaos/write-windows';

const ack = (id: number, srv: string, tl: number, serverAt: number): Ack => ({ id, srv, tl, serverAt, startedAt: serverAt - 2, at: serverAt + 2, writer: 'w1' });
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

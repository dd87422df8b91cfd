import t from 'tap';
import { Ack, checkAcks, duplicateAcks, IdCounts } from '../../scripts/chaos/ack-check';

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

import t from 'tap';
import { recordStandbyTick, parseHistory, emptyHistory, StandbyTick } from '../../src/core/standby-history';

const tick = (o: Partial<StandbyTick>): StandbyTick => ({ node: 'n2', now: 1000, streaming: true, receivedLsn: '0/10', upstream: 'n1', primaryView: null, ...o });
const row = (name: string, state = 'streaming', syncState = 'quorum') => ({ name, state, syncState, flushLsn: '0/10', replayLsn: '0/10' });

t.test('a first tick while not streaming records no streaming', async (t) => {
  const h = recordStandbyTick(null, tick({ streaming: false, receivedLsn: null, upstream: null }));
  t.equal(h.streamingAt, null);
  t.equal(h.observedAt, null);
});

t.test('streaming and synchronous in the primary\'s view', async (t) => {
  const h = recordStandbyTick(null, tick({ primaryView: [row('n2'), row('n3', 'catchup', 'potential')] }));
  t.equal(h.streamingAt, 1000);
  t.equal(h.syncAt, 1000);
  t.equal(h.syncAtObservation, true);
  t.same(h.othersStreaming, [], 'a catching-up sibling is not streaming');
  t.equal(h.upstream, 'n1');
});

t.test('async in the primary\'s view: streaming but not synchronous', async (t) => {
  const h = recordStandbyTick(null, tick({ primaryView: [row('n2', 'streaming', 'async'), row('n3')] }));
  t.equal(h.syncAtObservation, false);
  t.equal(h.syncAt, null);
  t.same(h.othersStreaming, ['n3']);
});

t.test('later ticks keep the last known facts when the primary cannot be read', async (t) => {
  const a = recordStandbyTick(null, tick({ primaryView: [row('n2'), row('n3')] }));
  const b = recordStandbyTick(a, tick({ now: 2000, streaming: false, receivedLsn: null, upstream: null, primaryView: null }));
  t.equal(b.streamingAt, 1000, 'last streaming time kept');
  t.equal(b.observedAt, 1000);
  t.same(b.othersStreaming, ['n3']);
  t.equal(b.receivedLsn, '0/10');
  t.equal(b.upstream, 'n1');
});

t.test('a history of another node is not reused', async (t) => {
  const a = recordStandbyTick(null, tick({ node: 'n3' }));
  const b = recordStandbyTick(a, tick({ streaming: false }));
  t.equal(b.node, 'n2');
  t.equal(b.streamingAt, null);
});

t.test('parseHistory round-trips and rejects junk', async (t) => {
  const h = recordStandbyTick(null, tick({ primaryView: [row('n2')] }));
  t.same(parseHistory(JSON.stringify(h)), h);
  t.same(parseHistory(JSON.stringify(emptyHistory('n1'))), emptyHistory('n1'));
  for (const bad of ['', 'null', '{}', '[]', JSON.stringify({ ...h, streamingAt: 'yesterday' }), JSON.stringify({ ...h, othersStreaming: [1] }), JSON.stringify({ ...h, syncAtObservation: 'yes' })]) {
    t.equal(parseHistory(bad), null, `rejects ${bad.slice(0, 40)}`);
  }
});

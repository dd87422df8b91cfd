import t from 'tap';
import { buildStatus, renderStatus, parseSyncStatus, parseFence, zeroLossRow, zeroLossCells, NodeObservation, SyncStatusFile, FenceFile } from '../../src/cli/status-view';
import { CurrentPrimary } from '../../src/core/current-primary';

const cp = (node: string, role: CurrentPrimary['role'], primary: string | null): CurrentPrimary => ({
  primary, node, role, timeline: 2, lsn: '0/3000000', upstream: role === 'standby' ? primary : null, members: [], reason: 'test',
});
const obs = (service: string, c: CurrentPrimary | null, extra: Partial<NodeObservation> = {}): NodeObservation => ({
  service, taskState: 'running', health: 'healthy', cp: c, ...extra,
});

const SINCE = '2026-11-27T09:00:00.000Z';
const primarySync = (x: Partial<SyncStatusFile> = {}): SyncStatusFile => ({ node: 'pgnode1', role: 'primary', mode: 'degrade', names: 'ANY 1 ("pgnode2", "pgnode3")', degraded: false, rule: 'degrade-sync', reason: 'degrade mode: synchronous on the healthy standbys pgnode2, pgnode3', since: SINCE, ...x });
const degradedSync = primarySync({ names: '', degraded: true, rule: 'degraded', reason: 'DEGRADED TO ASYNCHRONOUS: no standby of pgnode2, pgnode3 has streamed for 10012 ms (limit 10000 ms)' });
const standbySync = (x: Partial<SyncStatusFile> = {}): SyncStatusFile => ({ node: 'pgnode2', role: 'standby', mode: 'degrade', names: 'ANY 1 ("pgnode1", "pgnode3")', degraded: false, rule: 'standby', reason: 'standby: keeps …', since: SINCE, ...x });
const fenced: FenceFile = { node: 'pgnode1', fenced: true, rule: 'majority-lost', reason: '2 of 5 voters reachable for 6100 ms', at: SINCE };

t.test('parseSyncStatus / parseFence: the files the node writes; anything else is null (shown as "-")', async (t) => {
  const cases: { text: string | null; sync: boolean; fence: boolean }[] = [
    { text: JSON.stringify({ node: 'n1', mode: 'degrade', names: '', degraded: true, rule: 'degraded', reason: 'r', healthy: [], since: SINCE }) + '\n', sync: true, fence: false },
    { text: JSON.stringify({ node: 'n1', fenced: true, rule: 'majority-lost', reason: 'r', at: SINCE }), sync: false, fence: true },
    { text: JSON.stringify({ node: 'n1', fenced: false, reason: 'unfenced', at: SINCE }), sync: false, fence: true },
    { text: null, sync: false, fence: false },
    { text: '', sync: false, fence: false },
    { text: 'cat: /var/lib/pgswarm/state/fence.json: No such file or directory', sync: false, fence: false },
    { text: '{"mode":"strict","names":"x"}', sync: false, fence: false }, // no "degraded": not trusted
    { text: '[1,2]', sync: false, fence: false },
    { text: '{"fenced":"yes"}', sync: false, fence: false },
  ];
  for (const c of cases) {
    t.equal(parseSyncStatus(c.text) !== null, c.sync, `sync-status ${JSON.stringify(c.text)?.slice(0, 60)}`);
    t.equal(parseFence(c.text) !== null, c.fence, `fence ${JSON.stringify(c.text)?.slice(0, 60)}`);
  }
  const s = parseSyncStatus(JSON.stringify({ mode: 'strict', names: 'ANY 1 ("b")', degraded: false, rule: 'strict', reason: 'r', role: 'bogus' }));
  t.equal(s?.role, undefined, 'an unknown role is dropped (treated as an old primary-written file)');
});

t.test('zeroLossRow / zeroLossCells: one table of cases', async (t) => {
  const cases: { name: string; role: string; sync: SyncStatusFile | null; fence: FenceFile | null; cells: (string | RegExp)[] }[] = [
    { name: 'synchronous primary', role: 'primary', sync: primarySync(), fence: null, cells: ['degrade', 'ANY 1 ("pgnode2", "pgnode3")', 'no', 'no'] },
    { name: 'degraded primary: since when', role: 'primary', sync: degradedSync, fence: null, cells: ['degrade', "'' = ASYNC (degraded)", `YES since ${SINCE}`, 'no'] },
    { name: 'strict, waiting: not degraded', role: 'primary', sync: primarySync({ mode: 'strict', rule: 'strict-waiting' }), fence: null, cells: ['strict', 'ANY 1 ("pgnode2", "pgnode3")', 'no', 'no'] },
    { name: 'async primary', role: 'primary', sync: primarySync({ mode: 'async', names: '', rule: 'async' }), fence: null, cells: ['async', "'' (async)", 'no', 'no'] },
    { name: 'standby: the value kept ready, never "degraded"', role: 'standby', sync: standbySync(), fence: null, cells: ['degrade', 'ANY 1 ("pgnode1", "pgnode3") (kept ready for a promotion)', '-', 'no'] },
    { name: 'a standby with a file from its time as primary: stale, not shown as degraded', role: 'standby', sync: degradedSync, fence: null, cells: ['degrade', /file from its time as primary/, '-', 'no'] },
    { name: 'old-format file (no role) on the primary counts as the primary\'s', role: 'primary', sync: { ...degradedSync, role: undefined }, fence: null, cells: ['degrade', "'' = ASYNC (degraded)", /^YES/, 'no'] },
    { name: 'fenced primary (postgres down): fenced with rule and time, sync state stale', role: 'down', sync: primarySync(), fence: fenced, cells: ['degrade', /file from its time as primary/, '-', `YES (majority-lost) since ${SINCE}`] },
    { name: 'unfenced again', role: 'primary', sync: primarySync(), fence: { fenced: false, reason: 'majority reachable again', at: SINCE }, cells: ['degrade', /ANY 1/, 'no', 'no'] },
    { name: 'role unknown (current-primary timed out): the primary\'s file as it is', role: 'unknown', sync: degradedSync, fence: null, cells: ['degrade', "'' = ASYNC (degraded)", `YES since ${SINCE}`, 'no'] },
    { name: 'role unknown, synchronous primary\'s file: the live value, not "kept ready"', role: 'unknown', sync: primarySync(), fence: null, cells: ['degrade', 'ANY 1 ("pgnode2", "pgnode3")', 'no', 'no'] },
    { name: 'a primary promoted moments ago, still holding its standby file: what it kept ready', role: 'primary', sync: standbySync(), fence: null, cells: ['degrade', 'ANY 1 ("pgnode1", "pgnode3") (kept ready for a promotion)', '-', 'no'] },
    { name: 'nothing known (older image, async node)', role: 'standby', sync: null, fence: null, cells: ['-', '-', '-', '-'] },
  ];
  for (const c of cases) {
    const row = { node: 'pgnodeX', role: c.role, health: 'healthy', lagBytes: null, timeline: null, lsn: null, decision: '-', reason: '-', zeroLoss: zeroLossRow(c.role, c.sync, c.fence) };
    const cells = zeroLossCells(row).slice(1);
    c.cells.forEach((want, i) => (typeof want === 'string' ? t.equal(cells[i], want, `${c.name}: column ${i + 1}`) : t.match(cells[i], want, `${c.name}: column ${i + 1}`)));
  }
});

t.test('buildStatus / renderStatus: degraded and fenced nodes are problems, with since when and why', async (t) => {
  const healthy = buildStatus([
    obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1'), { syncStatus: primarySync(), fence: null }),
    obs('pgnode2', cp('pgnode2', 'standby', 'pgnode1'), { syncStatus: standbySync() }),
    obs('pgnode3', cp('pgnode3', 'standby', 'pgnode1'), { syncStatus: standbySync({ node: 'pgnode3', names: 'ANY 1 ("pgnode1", "pgnode2")' }) }),
  ], []);
  t.same(healthy.problems, [], 'synchronous cluster: no problems');
  const text = renderStatus(healthy);
  t.match(text, /NODE\s+SYNC MODE\s+SYNCHRONOUS_STANDBY_NAMES\s+DEGRADED\s+FENCED/, 'a zero-loss table');
  t.match(text, /pgnode1\s+degrade\s+ANY 1 \("pgnode2", "pgnode3"\)\s+no\s+no/);
  t.match(text, /pgnode2\s+degrade\s+ANY 1 \("pgnode1", "pgnode3"\) \(kept ready for a promotion\)\s+-\s+no/);

  const degraded = buildStatus([
    obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1'), { syncStatus: degradedSync }),
    obs('pgnode2', cp('pgnode2', 'down', 'pgnode1'), { syncStatus: standbySync() }),
  ], []);
  t.match(degraded.problems.join('\n'), new RegExp(`pgnode1 is DEGRADED to asynchronous since ${SINCE}: DEGRADED TO ASYNCHRONOUS: no standby`), 'degraded: a problem, since when and why');
  t.equal(degraded.nodes[0].zeroLoss.degraded, true, 'in --json too');
  t.match(renderStatus(degraded), /pgnode1\s+degrade\s+'' = ASYNC \(degraded\)\s+YES since/);

  const fencedView = buildStatus([
    obs('pgnode1', cp('pgnode1', 'down', 'pgnode2'), { syncStatus: degradedSync, fence: fenced }),
    obs('pgnode2', cp('pgnode2', 'primary', 'pgnode2'), { syncStatus: primarySync({ node: 'pgnode2', names: 'ANY 1 ("pgnode3")' }) }),
  ], []);
  const fp = fencedView.problems.join('\n');
  t.match(fp, new RegExp(`pgnode1 is FENCED \\(rule majority-lost\\) since ${SINCE}: 2 of 5 voters`), 'fenced: a problem with rule, time and reason');
  t.notMatch(fp, /DEGRADED/, 'a fenced old primary\'s degraded file is history, not a current problem');

  const none = renderStatus(buildStatus([obs('pgnode1', cp('pgnode1', 'primary', 'pgnode1'))], []));
  t.notMatch(none, /SYNC MODE/, 'no zero-loss table when no node reports anything (older images)');
});

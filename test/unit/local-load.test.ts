import t from 'tap';
import { judgeLocalLoad, viewForRound, CARRY_OVER_MS, STARVED_LAG_MS, ProbeOutcome } from '../../src/core/local-load';
import { decideFence, FenceInput } from '../../src/core/fencing';
import { SESSION_BACKOFF } from '../../src/adapters/pg-sessions';
import { nextBackoff } from '../../src/core/backoff';
import { nodeHealth } from '../../src/runtime/health-file';

t.test('judgeLocalLoad: a late timer or a throttled cgroup means starved', async (t) => {
  const cases: { name: string; lag: number; share: number | null; starved: boolean }[] = [
    { name: 'idle host', lag: 3, share: 0, starved: false },
    { name: 'unknown throttling, timers on time', lag: 40, share: null, starved: false },
    { name: 'timers just under the limit', lag: STARVED_LAG_MS - 1, share: null, starved: false },
    { name: 'timers at the limit', lag: STARVED_LAG_MS, share: null, starved: true },
    { name: 'timers 3 s late (a busy 2-core host)', lag: 3000, share: 0, starved: true },
    { name: 'throttled 25% of the round', lag: 0, share: 0.25, starved: true },
    { name: 'throttled 10%', lag: 0, share: 0.1, starved: false },
  ];
  for (const c of cases) {
    const v = judgeLocalLoad({ loopLagMs: c.lag, throttledShare: c.share });
    t.equal(v.starved, c.starved, `${c.name}: ${v.reason}`);
    t.ok(v.reason.length > 10);
  }
});

t.test('viewForRound: only a timeout on a starved round carries the last good view, and not for long', async (t) => {
  const good = { role: 'primary' };
  const now = 100000;
  const timeout: ProbeOutcome<typeof good> = { ok: false, timedOut: true, error: 'no answer within 800 ms' };
  const refused: ProbeOutcome<typeof good> = { ok: false, timedOut: false, error: 'connect ECONNREFUSED' };
  const cases: { name: string; o: ProbeOutcome<typeof good>; lastAgo: number | null; starved: boolean; view: boolean; carried: boolean }[] = [
    { name: 'answered', o: { ok: true, view: good }, lastAgo: null, starved: true, view: true, carried: false },
    { name: 'timed out, host not starved: unreachable', o: timeout, lastAgo: 1000, starved: false, view: false, carried: false },
    { name: 'timed out on a starved round, seen 1 s ago: carried', o: timeout, lastAgo: 1000, starved: true, view: true, carried: true },
    { name: 'timed out on a starved round, seen long ago: unreachable', o: timeout, lastAgo: CARRY_OVER_MS + 1, starved: true, view: false, carried: false },
    { name: 'timed out on a starved round, never seen: unreachable', o: timeout, lastAgo: null, starved: true, view: false, carried: false },
    { name: 'refused on a starved round: unreachable (a refusal is evidence)', o: refused, lastAgo: 1000, starved: true, view: false, carried: false },
  ];
  for (const c of cases) {
    const r = viewForRound(c.o, c.lastAgo === null ? undefined : { view: good, at: now - c.lastAgo }, c.starved, now);
    t.equal(r.view !== null, c.view, `${c.name}: ${r.reason}`);
    t.equal(r.carried, c.carried, c.name);
  }
});

t.test('fencing: a round with the agent\'s own timers late does not fence (starved)', async (t) => {
  const base: FenceInput = { dataMembers: 3, witnesses: 0, proxies: 2, reachablePeers: 0, reachableWitnesses: 0, reachableProxies: 0, majorityLostForMs: 60000, fenceAfterMs: 6000, newerPrimary: null, successorPossible: true };
  t.equal(decideFence({ ...base, loopLagMs: 2500 }).rule, 'starved');
  t.equal(decideFence({ ...base, loopLagMs: 2500 }).fence, false);
  t.equal(decideFence({ ...base, loopLagMs: 20 }).rule, 'majority-lost', 'timers on time: fence');
  t.equal(decideFence({ ...base, loopLagMs: 2500, newerPrimary: 'n2' }).rule, 'newer-primary', 'a newer primary fences even when starved');
});

t.test('reconnect backoff grows to 5 s with jitter and never spins', async (t) => {
  // The delay after the nth consecutive failure (base carried from the one before).
  const after = (failures: number, random: number) => {
    let base: number | null = null;
    let delay = 0;
    for (let i = 0; i < failures; i++) ({ base, delayMs: delay } = nextBackoff(base, false, i === failures - 1 ? random : 0.5, SESSION_BACKOFF));
    return delay;
  };
  t.equal(after(0, 0.5), 0);
  t.equal(after(1, 0.5), 200);
  t.equal(after(2, 0.5), 400);
  t.equal(after(10, 0.5), 5000);
  t.equal(after(10, 0), 2500, 'jitter down to half');
  t.equal(after(10, 0.999), 7495, 'jitter up to one and a half');
  t.equal(nextBackoff(null, false, 0.5, SESSION_BACKOFF).base, 200, 'after a successful connect (base forgotten) it starts again at the minimum');
});

t.test('node health: settled role and a running PostgreSQL', async (t) => {
  t.equal(nodeHealth('running', true).ok, true);
  t.equal(nodeHealth('running', false).ok, false, 'fenced or crashed');
  t.equal(nodeHealth('setting-up', true).ok, false, 'setting up on the hidden port');
  t.equal(nodeHealth('waiting', false).ok, false);
});

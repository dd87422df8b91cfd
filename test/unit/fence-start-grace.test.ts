import t from 'tap';
import { majorityClock, FENCE_START_GRACE_MS } from '../../src/runtime/zero-loss';

// The lost-majority clock of a primary: a bootstrap primary that never reached a majority is not fenced
// before FENCE_START_GRACE_MS; once it has reached one, losing it starts the clock at once, as before.
t.test('majorityClock: one table of cases', async (t) => {
  const P = 1_000_000;
  const cases: { name: string; majority: boolean; since: number | null; seen: boolean; now: number; want: { since: number | null; seen: boolean } }[] = [
    { name: 'majority reached: armed, clock stopped', majority: true, since: P + 5, seen: false, now: P + 10, want: { since: null, seen: true } },
    { name: 'never reached, inside the start grace: no clock', majority: false, since: null, seen: false, now: P + 6000, want: { since: null, seen: false } },
    { name: 'never reached, grace over: clock starts now', majority: false, since: null, seen: false, now: P + FENCE_START_GRACE_MS, want: { since: P + FENCE_START_GRACE_MS, seen: false } },
    { name: 'never reached, clock already running: keeps its start', majority: false, since: P + FENCE_START_GRACE_MS, seen: false, now: P + FENCE_START_GRACE_MS + 4000, want: { since: P + FENCE_START_GRACE_MS, seen: false } },
    { name: 'reached before, lost now (inside what was the grace): clock starts at once', majority: false, since: null, seen: true, now: P + 3000, want: { since: P + 3000, seen: true } },
    { name: 'reached before, still lost: keeps its start', majority: false, since: P + 3000, seen: true, now: P + 9000, want: { since: P + 3000, seen: true } },
  ];
  for (const c of cases) t.same(majorityClock({ majority: c.majority, since: c.since, seen: c.seen, primarySince: P, now: c.now }), c.want, c.name);
});

import t from 'tap';
import { silenceVerdict, SilenceInput } from '../../src/core/silence';
import { nextBackoff } from '../../src/core/backoff';

const D = 3000;
const cases: [string, SilenceInput, 'ok' | 'silent' | 'overloaded', RegExp][] = [
  ['a recent line', { msSinceLastLine: 900, deadlineMs: D, checkLateMs: 0 }, 'ok', /last line 900 ms ago/],
  ['exactly at the deadline', { msSinceLastLine: D, deadlineMs: D, checkLateMs: 3 }, 'ok', /deadline/],
  ['past the deadline, check on time: silent', { msSinceLastLine: D + 200, deadlineMs: D, checkLateMs: 10 }, 'silent', /no line for 3200 ms/],
  ['past the deadline, check slightly late (within tolerance): silent', { msSinceLastLine: D + 400, deadlineMs: D, checkLateMs: 400 }, 'silent', /no line/],
  ['past the deadline, check 2 s late: overloaded, not silent', { msSinceLastLine: D + 2000, deadlineMs: D, checkLateMs: 2000 }, 'overloaded', /2000 ms late.*starved/],
  ['a long stall: still overloaded while within the cap', { msSinceLastLine: 8000, deadlineMs: D, checkLateMs: 6000 }, 'overloaded', /starved/],
  ['earlier starvation extends the deadline', { msSinceLastLine: D + 800, deadlineMs: D, checkLateMs: 20, starvedMs: 1000 }, 'overloaded', /extended by 1000 ms/],
  ['earlier starvation used up: silent', { msSinceLastLine: D + 1200, deadlineMs: D, checkLateMs: 20, starvedMs: 1000 }, 'silent', /1000 ms of it our own starvation/],
  ['never beyond the cap, however starved', { msSinceLastLine: 3 * D + 1, deadlineMs: D, checkLateMs: 5000, starvedMs: 50_000 }, 'silent', /longest/],
  ['the cap follows maxFactor', { msSinceLastLine: 2 * D + 1, deadlineMs: D, checkLateMs: 5000, maxFactor: 2 }, 'silent', /past 6000 ms/],
  ['a custom tolerance', { msSinceLastLine: D + 300, deadlineMs: D, checkLateMs: 300, lateToleranceMs: 100 }, 'overloaded', /late/],
  ['a negative lateness (clock step) counts as on time', { msSinceLastLine: D + 10, deadlineMs: D, checkLateMs: -500 }, 'silent', /no line/],
];
for (const [name, input, verdict, re] of cases) {
  t.test(name, async (t) => {
    const v = silenceVerdict(input);
    t.equal(v.verdict, verdict, v.reason);
    t.match(v.reason, re);
    t.ok(v.effectiveDeadlineMs <= (input.maxFactor ?? 3) * input.deadlineMs, 'effective deadline within the cap');
  });
}

t.test('starvation accumulates over checks and is only counted above the tolerance', async (t) => {
  let v = silenceVerdict({ msSinceLastLine: 100, deadlineMs: D, checkLateMs: 700 });
  t.equal(v.starvedMs, 700);
  v = silenceVerdict({ msSinceLastLine: 200, deadlineMs: D, checkLateMs: 300, starvedMs: v.starvedMs });
  t.equal(v.starvedMs, 700, 'a check 300 ms late is not starvation');
  v = silenceVerdict({ msSinceLastLine: 300, deadlineMs: D, checkLateMs: 900, starvedMs: v.starvedMs });
  t.equal(v.starvedMs, 1600);
  t.equal(v.effectiveDeadlineMs, D + 1600);
});

t.test('backoff: 250 ms doubling to 5 s, jitter ×0.5..1.5, reset after a session that delivered an answer', async (t) => {
  const bases: number[] = [];
  let base: number | null = null;
  for (let i = 0; i < 8; i++) { const b = nextBackoff(base, false, 0.5); base = b.base; bases.push(b.base); t.equal(b.delayMs, b.base, 'random 0.5 = no jitter'); }
  t.same(bases, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  t.equal(nextBackoff(5000, true, 0.5).base, 250, 'reset after an answer');
  t.equal(nextBackoff(1000, false, 0).delayMs, 1000, 'lowest jitter: half of 2000');
  t.equal(nextBackoff(1000, false, 1).delayMs, 3000, 'highest jitter: 1.5 × 2000');
  t.equal(nextBackoff(null, false, 0.99).base, 250, 'first attempt starts at the minimum');
  t.equal(nextBackoff(100, false, 0.5, { minMs: 50, maxMs: 150 }).base, 150, 'custom policy capped');
});

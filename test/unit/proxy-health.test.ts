import t from 'tap';
import { proxyHealth } from '../../src/core/proxy-health';

const now = 1_000_000;
const ok = { updatedAt: now - 500, primary: 'n1', paused: false, bouncerOk: true };
const cases: [string, Parameters<typeof proxyHealth>[0], boolean, RegExp][] = [
  ['routing, fresh', ok, true, /routing to n1/],
  ['no state file', null, false, /no state file/],
  ['stale state', { ...ok, updatedAt: now - 60_000 }, false, /old/],
  ['no primary: paused but healthy (restarting it would not help)', { ...ok, primary: null, paused: true }, true, /no primary/],
  ['bouncer silent', { ...ok, bouncerOk: false }, false, /PgBouncer/],
  ['paused with a primary (switchover): healthy', { ...ok, paused: true }, true, /paused/],
  ['paused and PgBouncer silent: unhealthy', { ...ok, primary: null, paused: true, bouncerOk: false }, false, /PgBouncer/],
];
for (const [name, s, want, re] of cases) {
  t.test(name, async (t) => {
    const r = proxyHealth(s, now, 10_000);
    t.equal(r.ok, want);
    t.match(r.reason, re);
  });
}

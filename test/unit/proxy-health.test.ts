import t from 'tap';
import { proxyHealth, healthLine } from '../../src/core/proxy-health';

const ok = { running: true, primary: 'n1', paused: false, bouncerOk: true };
const cases: [string, Parameters<typeof proxyHealth>[0], boolean, RegExp][] = [
  ['routing', ok, true, /routing to n1/],
  ['no state', null, false, /not started/],
  ['agent stopped', { ...ok, running: false }, false, /not running/],
  ['no primary: paused but healthy (restarting it would not help)', { ...ok, primary: null, paused: true }, true, /no primary/],
  ['bouncer silent', { ...ok, bouncerOk: false }, false, /PgBouncer/],
  ['paused with a primary (switchover): healthy', { ...ok, paused: true }, true, /paused/],
  ['paused and PgBouncer silent: unhealthy', { ...ok, primary: null, paused: true, bouncerOk: false }, false, /PgBouncer/],
];
for (const [name, s, want, re] of cases) {
  t.test(name, async (t) => {
    const r = proxyHealth(s);
    t.equal(r.ok, want);
    t.match(r.reason, re);
  });
}

t.test('health line: one line, first word ok/unhealthy', async (t) => {
  t.equal(healthLine({ ok: true, reason: 'routing to n1' }), 'ok routing to n1\n');
  t.equal(healthLine({ ok: false, reason: 'a\nb\r\nc' }), 'unhealthy a b c\n');
  t.equal(healthLine({ ok: false, reason: 'x'.repeat(500) }).length, 'unhealthy '.length + 200 + 1);
});

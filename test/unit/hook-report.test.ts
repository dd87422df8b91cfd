import t from 'tap';
import { parseHookReport, reportMessage, MAX_REPORT_BYTES } from '../../src/core/hook-report';

// The control socket's `report` verb is reachable by any process of the PostgreSQL OS user: only
// known events and fields get into the root agent's log, and the message is the agent's own.
const cases: [string, string, boolean, RegExp?][] = [
  ['a promote start', JSON.stringify({ event: 'promote-start', reason: 'repmgrd elected this node' }), true],
  ['a follow result', JSON.stringify({ event: 'followed', ok: true, exit: 0, ms: 120, reason: 'r', output: 'done' }), true],
  ['a guard veto', JSON.stringify({ event: 'promotion-guard', allow: false, rule: 'not-synced', reason: 'x', repmgr: ['--a'], detail: '{}' }), true],
  ['not JSON', 'hello', false, /not JSON/],
  ['an array', '[1]', false, /not a JSON object/],
  ['an unknown event', JSON.stringify({ event: 'decision', action: 'promote' }), false, /unknown event/],
  ['no event', JSON.stringify({ reason: 'x' }), false, /unknown event/],
  ['a forged level/msg/event field', JSON.stringify({ event: 'promoted', ok: true, level: 60, msg: 'signing key rotated', node: 'pgnode9' }), false, /level, msg, node/],
  ['a wrong type', JSON.stringify({ event: 'promoted', ok: 'yes' }), false, /ok/],
  ['a rule with spaces', JSON.stringify({ event: 'promotion-guard', allow: true, rule: 'all good now' }), false, /rule/],
  ['too long', JSON.stringify({ event: 'promoted', output: 'x'.repeat(MAX_REPORT_BYTES) }), false, /longer than/],
  ['an __proto__ key', '{"event":"promoted","__proto__":{"x":1}}', false, /__proto__/],
];

for (const [name, line, ok, err] of cases) {
  t.test(name, async (t) => {
    const p = parseHookReport(line);
    t.equal(p.ok, ok, ok ? 'accepted' : 'refused');
    if (!p.ok && err) t.match(p.error, err);
  });
}

t.test('text is cut and control characters replaced; the message is the agent\'s', async (t) => {
  const p = parseHookReport(JSON.stringify({ event: 'promoted', ok: false, ms: 5, output: `a\u001b[31mb\n${'y'.repeat(3000)}` }));
  t.ok(p.ok);
  if (!p.ok) return;
  t.equal((p.report.output as string).length, 2000);
  t.notMatch(p.report.output as string, /\u001b/);
  t.equal(reportMessage(p.report), 'hook: promote failed in 5 ms');
});

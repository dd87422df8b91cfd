import t from 'tap';
import { parseNodeAnswer } from '../../src/core/node-answer';
import { currentPrimary, formatCurrentPrimary } from '../../src/core/current-primary';

const good = { primary: 'n1', node: 'n2', role: 'standby', timeline: 1, lsn: '0/30', upstream: 'n1', members: [{ name: 'n1', reachable: true, role: 'primary', timeline: 1, upstream: null }], reason: 'ok' };
const out = (o: object, first = 'PRIMARY: n1') => `${first}\n${JSON.stringify(o)}\n`;

const cases: { name: string; stdout: string; code: number | null; asked?: string; kind: string }[] = [
  { name: 'well-formed standby answer', stdout: out(good), code: 0, kind: 'ok' },
  { name: 'no primary', stdout: out({ ...good, primary: null }, 'PRIMARY: none'), code: 3, kind: 'ok' },
  { name: 'empty output', stdout: '', code: 0, kind: 'garbage' },
  { name: 'one line only', stdout: 'PRIMARY: n1\n', code: 0, kind: 'garbage' },
  { name: 'bad first line', stdout: out(good, 'PRIMARY n1'), code: 0, kind: 'garbage' },
  { name: 'JSON broken', stdout: 'PRIMARY: n1\n{"primary":', code: 0, kind: 'garbage' },
  { name: 'lines disagree', stdout: out(good, 'PRIMARY: n3'), code: 0, kind: 'garbage' },
  { name: 'answer from another node', stdout: out(good), code: 0, asked: 'n3', kind: 'garbage' },
  { name: 'role not in contract', stdout: out({ ...good, role: 'leader' }), code: 0, kind: 'garbage' },
  { name: 'exit code contradicts', stdout: out(good), code: 3, kind: 'garbage' },
  { name: 'exit 2 is an error', stdout: 'current-primary: cannot read config\n', code: 2, kind: 'error' },
  { name: 'shell injection-looking name', stdout: out({ ...good, primary: 'n1;rm' }, 'PRIMARY: n1;rm'), code: 0, kind: 'garbage' },
  { name: 'huge output', stdout: 'x'.repeat(70000), code: 0, kind: 'garbage' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = parseNodeAnswer(c.asked ?? 'n2', c.stdout, c.code);
    t.equal(r.kind, c.kind, JSON.stringify(r).slice(0, 200));
  });
}

t.test('parses what the real current-primary formatter prints', async (t) => {
  const cp = currentPrimary('n2', [
    { name: 'n1', reachable: true, role: 'primary', timeline: 3, lsn: '0/5', upstream: null, streaming: false },
    { name: 'n2', reachable: true, role: 'standby', timeline: 3, lsn: '0/5', upstream: 'n1', streaming: true },
    { name: 'n3', reachable: false, error: 'timeout' },
  ]);
  const r = parseNodeAnswer('n2', formatCurrentPrimary(cp), cp.primary ? 0 : 3);
  t.equal(r.kind, 'ok');
  if (r.kind === 'ok') {
    t.equal(r.answer.primary, 'n1');
    t.equal(r.answer.role, 'standby');
    t.equal(r.answer.upstream, 'n1');
    t.equal(r.answer.members.length, 3);
  }
});

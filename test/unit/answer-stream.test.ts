import t from 'tap';
import { AnswerStreamParser, StreamEvent } from '../../src/core/answer-stream';

const standby = { primary: 'n1', node: 'n2', role: 'standby', timeline: 1, lsn: '0/30', upstream: 'n1', members: [], reason: 'ok' };
const none = { ...standby, primary: null, reason: 'nobody' };
const ans = (o: object, first = `PRIMARY: ${(o as { primary: string | null }).primary ?? 'none'}`) => `${first}\n${JSON.stringify(o)}\n`;

const summary = (evs: StreamEvent[]) => evs.map((e) => (e.kind === 'garbage' ? `garbage:${e.detail}` : `${e.kind}:${e.answer.primary ?? 'none'}`));

const stream = ans(standby) + 'HEARTBEAT\n' + 'HEARTBEAT\n' + ans(none) + 'HEARTBEAT\n' + ans({ ...standby, primary: 'n3', upstream: 'n3' });
const want = ['answer:n1', 'heartbeat:n1', 'heartbeat:n1', 'answer:none', 'heartbeat:none', 'answer:n3'];

t.test('whole stream in one chunk', async (t) => {
  const p = new AnswerStreamParser('n2');
  t.same(summary(p.feed(stream)), want);
  t.equal(p.answer?.primary, 'n3');
  t.equal(p.failed, false);
});

t.test('split at every single position gives the same events', async (t) => {
  const bytes = Buffer.from(stream);
  for (let i = 0; i <= bytes.length; i++) {
    const p = new AnswerStreamParser('n2');
    const evs = [...p.feed(bytes.subarray(0, i)), ...p.feed(bytes.subarray(i))];
    if (JSON.stringify(summary(evs)) !== JSON.stringify(want)) t.fail(`split at ${i}: ${summary(evs)}`);
  }
  t.pass('every split point');
});

t.test('byte by byte, with a multi-byte UTF-8 reason split inside a character', async (t) => {
  const p = new AnswerStreamParser('n2');
  const s = Buffer.from(ans({ ...standby, reason: 'Grüße → ok ✓' }) + 'HEARTBEAT\n');
  const evs: StreamEvent[] = [];
  for (const b of s) evs.push(...p.feed(Buffer.from([b])));
  t.same(summary(evs), ['answer:n1', 'heartbeat:n1']);
  t.equal(p.answer?.reason, 'Grüße → ok ✓');
});

t.test('random chunking (seeded)', async (t) => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const bytes = Buffer.from(stream);
  for (let round = 0; round < 200; round++) {
    const p = new AnswerStreamParser('n2');
    const evs: StreamEvent[] = [];
    for (let i = 0; i < bytes.length;) {
      const n = 1 + Math.floor(rnd() * 40);
      evs.push(...p.feed(bytes.subarray(i, i + n)));
      i += n;
    }
    if (JSON.stringify(summary(evs)) !== JSON.stringify(want)) { t.fail(`round ${round}`); return; }
  }
  t.pass('200 random chunkings');
});

t.test('CRLF line ends are tolerated', async (t) => {
  const p = new AnswerStreamParser('n2');
  t.same(summary(p.feed(stream.replace(/\n/g, '\r\n'))), want);
});

t.test('an unfinished line produces nothing yet', async (t) => {
  const p = new AnswerStreamParser('n2');
  t.same(p.feed('PRIMARY: n1\n{"primary":"n1"'), []);
  t.same(p.feed(ans(standby).slice('PRIMARY: n1\n{"primary":"n1"'.length)), [{ kind: 'answer', answer: p.answer }]);
});

const garbage: [string, string, RegExp][] = [
  ['unknown line', 'hello\n', /unexpected line/],
  ['empty line', '\n', /unexpected line/],
  ['JSON without a PRIMARY line', `${JSON.stringify(standby)}\n`, /without a PRIMARY line/],
  ['HEARTBEAT before any answer', 'HEARTBEAT\n', /before any answer/],
  ['PRIMARY then HEARTBEAT', 'PRIMARY: n1\nHEARTBEAT\n', /expected the JSON line/],
  ['PRIMARY twice', 'PRIMARY: n1\nPRIMARY: n1\n', /expected the JSON line/],
  ['lines disagree', ans(standby, 'PRIMARY: n3'), /first line names n3/],
  ['answer signed by another node', ans({ ...standby, node: 'n3' }), /asked n2 but n3 answered/],
  ['bad first line', ans(standby, 'PRIMARY:n1'), /bad first line/],
  ['broken JSON', 'PRIMARY: n1\n{"primary":\n', /not JSON/],
  ['role off contract', ans({ ...standby, role: 'leader' }), /role/],
  ['a complete line over 64 KiB', `${'x'.repeat(70000)}\n`, /longer than 65536/],
  ['an unfinished line over 64 KiB', 'y'.repeat(70000), /longer than 65536/],
];
for (const [name, input, re] of garbage) {
  t.test(`garbage: ${name}`, async (t) => {
    const p = new AnswerStreamParser('n2');
    const evs = p.feed(input);
    t.equal(evs.length, 1, JSON.stringify(summary(evs)).slice(0, 200));
    t.equal(evs[0].kind, 'garbage');
    if (evs[0].kind === 'garbage') t.match(evs[0].detail, re);
    t.equal(p.failed, true);
    t.same(p.feed(ans(standby) + 'HEARTBEAT\n'), [], 'nothing is parsed after garbage');
  });
}

t.test('garbage after good answers: the good events come first, then exactly one garbage', async (t) => {
  const p = new AnswerStreamParser('n2');
  const evs = p.feed(ans(standby) + 'HEARTBEAT\nnonsense\n' + 'HEARTBEAT\n');
  t.same(summary(evs), ['answer:n1', 'heartbeat:n1', 'garbage:unexpected line "nonsense"']);
});

t.test('a 64 KiB limit applies to a long line split across many chunks', async (t) => {
  const p = new AnswerStreamParser('n2');
  const chunk = 'z'.repeat(10000);
  let evs: StreamEvent[] = [];
  for (let i = 0; i < 7 && evs.length === 0; i++) evs = p.feed(chunk);
  t.equal(evs[0]?.kind, 'garbage');
});

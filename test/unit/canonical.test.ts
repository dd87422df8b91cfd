import t from 'tap';
import { canonicalBytes, canonicalString } from '../../src/core/canonical';

t.test('equal data gives equal bytes whatever the key order', async (t) => {
  const cases: [unknown, unknown][] = [
    [{ a: 1, b: 2 }, { b: 2, a: 1 }],
    [{ x: { z: [1, { q: 'r', p: null }], y: true } }, { x: { y: true, z: [1, { p: null, q: 'r' }] } }],
    [{ a: 1, skip: undefined }, { a: 1 }],
  ];
  for (const [a, b] of cases) t.equal(canonicalString(a), canonicalString(b), JSON.stringify(a));
});

t.test('encoding: sorted keys, no whitespace, JSON escapes, UTF-8', async (t) => {
  const table: [unknown, string][] = [
    [{ b: 1, a: [true, false, null] }, '{"a":[true,false,null],"b":1}'],
    [{ s: 'a "q" \\ \n' }, '{"s":"a \\"q\\" \\\\ \\n"}'],
    [{ 'é': 'ü' }, '{"é":"ü"}'],
    [[], '[]'],
    [{}, '{}'],
    [-0.5, '-0.5'],
    [{ B: 1, a: 2, _: 3 }, '{"B":1,"_":3,"a":2}'],
  ];
  for (const [v, want] of table) t.equal(canonicalString(v), want, want);
  t.same([...canonicalBytes({ 'é': 1 })], [...Buffer.from('{"é":1}', 'utf8')], 'bytes are UTF-8');
  t.equal(canonicalBytes({ 'é': 1 }).length, 8, 'é is two bytes');
});

t.test('different data gives different bytes', async (t) => {
  const pairs: [unknown, unknown][] = [
    [{ a: 1 }, { a: '1' }],
    [{ a: null }, {}],
    [{ a: [1, 2] }, { a: [2, 1] }],
    [{ a: 'x', b: 'y' }, { a: 'xb', b: '' }],
  ];
  for (const [a, b] of pairs) t.not(canonicalString(a), canonicalString(b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

t.test('values JSON cannot carry exactly are refused', async (t) => {
  const bad: unknown[] = [NaN, Infinity, { a: -Infinity }, [undefined], { d: new Date(0) }, { f: () => 1 }, 10n, { m: new Map() }];
  for (const v of bad) t.throws(() => canonicalString(v), String(v));
});

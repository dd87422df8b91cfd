import t from 'tap';
import { parseChaosArgs } from '../../scripts/chaos/args';

t.test('arguments: every error at once; "all" expands', async (t) => {
  const known = ['a', 'b', 'c'];
  const d = { scenarios: ['a'], resultsDir: 'r' };
  t.same(parseChaosArgs(['--runs', '5', '--scenario', 'b,c'], known, d).args.scenarios, ['b', 'c']);
  t.equal(parseChaosArgs(['--runs=2'], known, d).args.runs, 2);
  t.same(parseChaosArgs(['--scenario', 'all'], known, d).args.scenarios, known);
  const bad = parseChaosArgs(['--runs', '0', '--scenario', 'x,a', '--what'], known, d);
  t.equal(bad.errors.length, 3, bad.errors.join('; '));
});

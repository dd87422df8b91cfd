import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_TRANSITIONS, PHASES, canMove, phaseDiagram } from '../../src/core/node-phases';

t.test('every phase is reachable from starting', async (t) => {
  const seen = new Set<string>(['starting']);
  let grew = true;
  while (grew) {
    grew = false;
    for (const tr of NODE_TRANSITIONS) {
      const froms = tr.from === '*' ? [...seen] : seen.has(tr.from) ? [tr.from] : [];
      if (froms.length && !seen.has(tr.to)) {
        seen.add(tr.to);
        grew = true;
      }
    }
  }
  for (const p of PHASES) t.ok(seen.has(p), `${p} reachable`);
});

t.test('edges', async (t) => {
  t.ok(canMove('deciding', 'setting-up'));
  t.ok(canMove('running', 'stopping'), 'any phase can stop');
  t.notOk(canMove('waiting', 'running'), 'waiting never jumps to running without a decision');
  t.notOk(canMove('refused', 'setting-up'), 'a refusal is final');
  t.notOk(canMove('starting', 'running'));
});

t.test('docs/architecture.md carries the diagram generated from the table', async (t) => {
  const doc = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'docs', 'architecture.md'), 'utf8');
  t.ok(doc.includes(phaseDiagram()), 'run `node dist/scripts/gen-docs.js` after changing NODE_TRANSITIONS');
});

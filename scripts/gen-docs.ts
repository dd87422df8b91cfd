/**
 * Regenerates the parts of docs/ that come from code: the node phase diagram
 * (from NODE_TRANSITIONS) and the role decision table (from RULES and the
 * unit test's cases). Run: npm run build && node dist/scripts/gen-docs.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { phaseDiagram } from '../src/core/node-phases';
import { RULES } from '../src/core/decide-role';

const file = path.resolve(__dirname, '..', '..', 'docs', 'architecture.md');
const doc = fs.readFileSync(file, 'utf8');
const between = (text: string, tag: string, body: string) =>
  text.replace(new RegExp(`(<!-- generated:${tag} -->)[\\s\\S]*?(<!-- /generated:${tag} -->)`), `$1\n${body}\n$2`);
let out = between(doc, 'phases', '```mermaid\n' + phaseDiagram() + '\n```');
out = between(out, 'rules', RULES.map((r, i) => `${i + 1}. \`${r.name}\``).join('\n'));
fs.writeFileSync(file, out);
console.log(`updated ${file}`);

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseNodeConfig } from '../../src/core/node-config';
import { parseProxyConfig } from '../../src/core/proxy-config';

// compose/stack-2plus1.yml: every service's environment passes the same checks the agents run at start.
const file = path.resolve(__dirname, '..', '..', '..', 'compose', 'stack-2plus1.yml');
const doc = YAML.parse(fs.readFileSync(file, 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> };
const subst = (v: unknown) => String(v).replace(/\$\{([A-Z_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, def?: string) => (name === 'PGSWARM_VERIFY_KEY' ? 'dmVyaWZ5' : def ?? ''));
const envOf = (s: string) => Object.fromEntries(Object.entries(doc.services[s].environment).map(([k, v]) => [k, subst(v)]));
const readFile = () => 'secret\n';

t.test('the stack has two data nodes, a witness and two proxies', async (t) => {
  t.same(Object.keys(doc.services).sort(), ['pgnode1', 'pgnode2', 'pgproxy1', 'pgproxy2', 'pgwitness']);
});

for (const s of ['pgnode1', 'pgnode2', 'pgwitness']) {
  t.test(`${s}: its environment parses without errors`, async (t) => {
    const { config, errors } = parseNodeConfig({ env: envOf(s), readFile });
    t.same(errors, []);
    t.equal(config!.role, s === 'pgwitness' ? 'witness' : 'data');
    t.equal(config!.witness?.name, 'pgwitness');
    if (s !== 'pgwitness') t.equal(config!.syncMode, 'strict', 'data nodes run in strict mode');
  });
}

for (const s of ['pgproxy1', 'pgproxy2']) {
  t.test(`${s}: counts the same witness as the nodes`, async (t) => {
    const { config, errors } = parseProxyConfig({ env: envOf(s), readFile });
    t.same(errors, []);
    t.equal(config!.witness?.name, 'pgwitness');
    t.equal(envOf(s).PGSWARM_WITNESS, envOf('pgnode1').PGSWARM_WITNESS, 'same PGSWARM_WITNESS on proxies and nodes');
    t.equal(envOf(s).PGSWARM_PEERS, envOf('pgnode1').PGSWARM_PEERS, 'same data nodes');
  });
}

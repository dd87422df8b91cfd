import t from 'tap';
import { checkProxyCsr, CsrFacts, csrProofMessage } from '../../src/core/csr-policy';

const reserved = ['pgnode1', 'pgnode2', 'pgnode3', 'witness'];
const good: CsrFacts = { signatureOk: true, subject: ['CN=pgproxy1'], dnsNames: ['pgproxy1'], ipAddresses: [], otherNames: [], requestsCa: false };

t.test('the proxy\'s own name is allowed; operator extras are added', async (t) => {
  t.same(checkProxyCsr(good, 'pgproxy1', reserved), { ok: true, names: ['pgproxy1'] });
  t.same(checkProxyCsr({ ...good, dnsNames: [] }, 'pgproxy1', reserved), { ok: true, names: ['pgproxy1'] }, 'no SAN: the signer adds the name');
  t.same(checkProxyCsr(good, 'pgproxy1', reserved, ['db.example.com', '127.0.0.1', '*.example.com', 'pgproxy1']),
    { ok: true, names: ['pgproxy1', 'db.example.com', '127.0.0.1'] }, 'extras from the node config (the operator\'s choice); wildcards dropped');
});

t.test('refused requests', async (t) => {
  const cases: [string, CsrFacts, string, RegExp][] = [
    ['a node name in the SAN', { ...good, dnsNames: ['pgproxy1', 'pgnode1'] }, 'pgproxy1', /names other than pgproxy1: pgnode1/],
    ['a node name as CN', { ...good, subject: ['CN=pgnode1'] }, 'pgproxy1', /subject must be exactly CN=pgproxy1/],
    ['an IP address', { ...good, ipAddresses: ['10.0.0.5'] }, 'pgproxy1', /IP addresses 10\.0\.0\.5/],
    ['a wildcard', { ...good, dnsNames: ['*.pgswarm'] }, 'pgproxy1', /names other than/],
    ['another SAN type', { ...good, otherNames: ['email:a@b'] }, 'pgproxy1', /other names/],
    ['a CA', { ...good, requestsCa: true }, 'pgproxy1', /CA certificate/],
    ['a bad self-signature', { ...good, signatureOk: false }, 'pgproxy1', /self-signature/],
    ['extra subject attributes', { ...good, subject: ['CN=pgproxy1', 'O=evil'] }, 'pgproxy1', /subject must be exactly/],
    ['a token named like a node', { ...good, subject: ['CN=pgnode2'], dnsNames: ['pgnode2'] }, 'pgnode2', /is a node's name/],
    ['a token named localhost', { ...good, subject: ['CN=localhost'], dnsNames: ['localhost'] }, 'localhost', /is a node's name/],
    ['a name with dots', { ...good, subject: ['CN=a.b'], dnsNames: ['a.b'] }, 'a.b', /cannot be a certificate name/],
  ];
  for (const [what, f, name, re] of cases) {
    const r = checkProxyCsr(f, name, reserved);
    t.equal(r.ok, false, `${what}: refused`);
    if (!r.ok) t.match(r.reason, re, what);
  }
});

t.test('the renewal proof message is domain-separated', async (t) => {
  t.ok(csrProofMessage('x').toString().startsWith('pgswarm/csr-proof/v1\n'));
});

import t from 'tap';
import { generateSigningKeyPair, isSigningSecretKey, publicKeyOf, sign, signingKeyId, verify } from '../../src/core/signing';

const msg = new TextEncoder().encode('hello pgswarm');

t.test('sign then verify round-trips; key pairs are fresh', async (t) => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  t.not(a.secretKey, b.secretKey);
  t.equal(Buffer.from(a.publicKey, 'base64').length, 32);
  t.equal(Buffer.from(a.secretKey, 'base64').length, 64);
  t.equal(publicKeyOf(a.secretKey), a.publicKey);
  t.ok(isSigningSecretKey(a.secretKey));
  t.notOk(isSigningSecretKey(a.publicKey));
  const sig = sign(msg, a.secretKey);
  t.equal(Buffer.from(sig, 'base64').length, 64);
  t.ok(verify(msg, sig, a.publicKey));
});

t.test('verification fails for every kind of mismatch, without throwing', async (t) => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  const sig = sign(msg, a.secretKey);
  const flipped = Buffer.from(sig, 'base64');
  flipped[10] ^= 1;
  const other = new TextEncoder().encode('hello pgswarM');
  const table: [string, Uint8Array, string, string][] = [
    ['other key', msg, sig, b.publicKey],
    ['other message', other, sig, a.publicKey],
    ['flipped signature bit', msg, flipped.toString('base64'), a.publicKey],
    ['empty signature', msg, '', a.publicKey],
    ['garbage signature', msg, 'not base64!', a.publicKey],
    ['short signature', msg, sig.slice(0, 40), a.publicKey],
    ['garbage key', msg, sig, '!!'],
    ['secret key given as public', msg, sig, a.secretKey],
  ];
  for (const [name, m, s, k] of table) t.equal(verify(m, s, k), false, name);
});

t.test('key ids are stable and distinct', async (t) => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  t.equal(signingKeyId(a.publicKey), signingKeyId(a.publicKey));
  t.not(signingKeyId(a.publicKey), signingKeyId(b.publicKey));
  t.match(signingKeyId(a.publicKey), /^ed25519:[A-Za-z0-9+/]{16}$/);
  t.throws(() => sign(msg, a.publicKey), 'a public key cannot sign');
});

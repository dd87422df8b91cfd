import t from 'tap';
import { createToken, decodeTokenUnverified, TokenRefusal, verifyToken, MAX_TOKEN_TTL_SECONDS } from '../../src/core/join-token';
import { generateSigningKeyPair, sign } from '../../src/core/signing';
import { canonicalBytes } from '../../src/core/canonical';

const cluster = generateSigningKeyPair();
const attacker = generateSigningKeyPair();
const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const FP = 'SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const FP2 = 'SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const none = new Map<string, string>();

function tok(over: { name?: string; ttl?: number; id?: string; at?: number; key?: string } = {}): string {
  return createToken({ kind: 'proxy', name: over.name ?? 'proxy1', ttlSeconds: over.ttl ?? 600, id: over.id ?? 'token-0001' }, over.key ?? cluster.secretKey, over.at ?? NOW);
}

function reencode(token: string, change: (p: Record<string, unknown>) => void): string {
  const [body, sig] = token.split('.');
  const p = JSON.parse(Buffer.from(body, 'base64url').toString());
  change(p);
  return `${Buffer.from(canonicalBytes(p)).toString('base64url')}.${sig}`;
}

t.test('a fresh token verifies and carries its payload', async (t) => {
  const r = verifyToken(tok(), cluster.publicKey, NOW + 1000, [], none, FP);
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.payload.name, 'proxy1');
    t.equal(r.payload.kind, 'proxy');
    t.equal(r.payload.id, 'token-0001');
    t.equal(r.payload.exp - r.payload.iat, 600);
  }
  const auto = createToken({ kind: 'proxy', name: 'p', ttlSeconds: 60 }, cluster.secretKey, NOW);
  t.match(decodeTokenUnverified(auto)?.id, /^[A-Za-z0-9_-]{16}$/, 'random id when none given');
  t.not(decodeTokenUnverified(auto)?.id, decodeTokenUnverified(createToken({ kind: 'proxy', name: 'p', ttlSeconds: 60 }, cluster.secretKey, NOW))?.id);
  t.ok(verifyToken(tok(), cluster.publicKey, NOW, [], new Map([['token-0001', FP]]), FP).ok, 'same key again is an idempotent retry');
});

t.test('each bad token is refused with its own reason', async (t) => {
  const cases: [string, string, number, string[], Map<string, string>, TokenRefusal][] = [
    ['forged: signed by another key', tok({ key: attacker.secretKey }), NOW, [], none, 'unknown-signer'],
    ['forged: another key claiming to be ours', reencode(tok({ key: attacker.secretKey }), (p) => {
      p.iss = decodeTokenUnverified(tok())?.iss;
    }), NOW, [], none, 'bad-signature'],
    ['tampered name', reencode(tok(), (p) => { p.name = 'evil'; }), NOW, [], none, 'bad-signature'],
    ['tampered expiry', reencode(tok(), (p) => { p.exp = (p.exp as number) + 86400; }), NOW, [], none, 'bad-signature'],
    ['tampered id (dodging revocation)', reencode(tok(), (p) => { p.id = 'token-0002'; }), NOW, ['token-0001'], none, 'bad-signature'],
    ['signature cut', tok().split('.')[0] + '.' + tok().split('.')[1].slice(0, 20), NOW, [], none, 'bad-signature'],
    ['signature of another token', tok().split('.')[0] + '.' + tok({ name: 'other' }).split('.')[1], NOW, [], none, 'bad-signature'],
    ['expired', tok({ ttl: 60 }), NOW + 61_000, [], none, 'expired'],
    ['expired exactly', tok({ ttl: 60 }), NOW + 60_000, [], none, 'expired'],
    ['issued in the future', tok({ at: NOW + 3600_000 }), NOW, [], none, 'not-yet-valid'],
    ['revoked', tok(), NOW, ['token-0001'], none, 'revoked'],
    ['reused with another key', tok(), NOW, [], new Map([['token-0001', FP2]]), 'reused'],
    ['not a token', 'hello', NOW, [], none, 'malformed'],
    ['three parts', `${tok()}.x`, NOW, [], none, 'malformed'],
    ['payload not JSON', `${Buffer.from('nope').toString('base64url')}.${tok().split('.')[1]}`, NOW, [], none, 'malformed'],
    ['extra field', reencode(tok(), (p) => { p.admin = true; }), NOW, [], none, 'malformed'],
  ];
  for (const [name, token, now, revoked, used, reason] of cases) {
    const r = verifyToken(token, cluster.publicKey, now, revoked, used, FP);
    t.equal(r.ok ? 'ok' : r.reason, reason, name);
  }
});

t.test('wrong kind, even when correctly signed, is refused', async (t) => {
  const body = canonicalBytes({ v: 1, kind: 'node', name: 'x1', id: 'token-0009', iat: NOW / 1000, exp: NOW / 1000 + 60, iss: decodeTokenUnverified(tok())?.iss });
  const d = new TextEncoder().encode('pgswarm/join-token/v1\n');
  const all = new Uint8Array(d.length + body.length);
  all.set(d);
  all.set(body, d.length);
  const sig = Buffer.from(sign(all, cluster.secretKey), 'base64').toString('base64url');
  const r = verifyToken(`${Buffer.from(body).toString('base64url')}.${sig}`, cluster.publicKey, NOW, [], none, FP);
  t.equal(r.ok ? 'ok' : r.reason, 'wrong-kind');
});

t.test('createToken lists every input error', async (t) => {
  t.throws(() => createToken({ kind: 'proxy', name: '', ttlSeconds: 0, id: 'x' }, cluster.secretKey, NOW), /name.*ttlSeconds.*id/);
  t.throws(() => createToken({ kind: 'proxy', name: 'p', ttlSeconds: MAX_TOKEN_TTL_SECONDS + 1 }, cluster.secretKey, NOW), /ttlSeconds/);
  t.throws(() => createToken({ kind: 'admin' as 'proxy', name: 'p', ttlSeconds: 60 }, cluster.secretKey, NOW), /kind/);
  t.throws(() => createToken({ kind: 'proxy', name: 'p', ttlSeconds: 60 }, cluster.publicKey, NOW), 'needs the secret key');
});

t.test('the gate segment: a keyed hash the database can check, derived one-way from the signing key', async (t) => {
  const { createToken: mk, tokenGateKey, tokenGateMac, verifyToken: check } = await import('../../src/core/join-token');
  const { generateSigningKeyPair } = await import('../../src/core/signing');
  const kp = generateSigningKeyPair();
  const tok = mk({ kind: 'proxy', name: 'p1', ttlSeconds: 600 }, kp.secretKey, Date.now());
  const [body, sig, gate] = tok.split('.');
  t.equal(gate, tokenGateMac(body, tokenGateKey(kp.secretKey)).toString('base64url'));
  t.equal(tokenGateKey(kp.secretKey).length, 32);
  t.notOk(tokenGateKey(kp.secretKey).toString('base64').includes(kp.secretKey.slice(0, 16)), 'not the signing key itself');
  const fp = 'SHA256:x';
  t.ok(check(tok, kp.publicKey, Date.now(), [], new Map(), fp).ok, 'three segments verify');
  t.ok(check(`${body}.${sig}`, kp.publicKey, Date.now(), [], new Map(), fp).ok, 'two segments (older tokens) still verify on the node');
});

import t from 'tap';
import nacl from 'tweetnacl';
import { RegistryRow, signRow, verifyRows, IgnoreReason } from '../../src/core/registry-row';
import { generateSigningKeyPair, sign } from '../../src/core/signing';
import { fingerprint, parsePublicKey } from '../../src/core/ssh-public-key';

/** An OpenSSH ed25519 public key line for 32 random bytes. */
function sshPub(): string {
  const pk = nacl.randomBytes(32);
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([u32(type.length), type, u32(32), Buffer.from(pk)]);
  return `ssh-ed25519 ${blob.toString('base64')}`;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const cluster = generateSigningKeyPair();
const attacker = generateSigningKeyPair();
const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function good(over: Partial<Parameters<typeof signRow>[0]> = {}, key = cluster.secretKey): RegistryRow {
  const createdAt = over.createdAt ?? iso(NOW - 1000);
  return signRow({ kind: 'node-host', name: 'node1', publicKey: sshPub(), host: '10.0.0.1', port: 22, createdAt, expiresAt: iso(Date.parse(createdAt) + 24 * 3600_000), generation: 1, ...over }, key);
}

t.test('fingerprint matches ssh-keygen (vectors from ssh-keygen -lf)', async (t) => {
  const vectors: [string, string][] = [
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID1h208mBmRvmfsEbuCIRYsDLHgxR+VbStrCU0VjBovH x', 'SHA256:H5YOTc7u00NoX+lz8iuvJgxMjsp6vKfetKyGprrM6zI'],
    ['ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMhiQ247b78zKEJk0VlX/DnElTZSRWfOw4cnzlU8ZKUcAX9BfvHGXCp526gANuA6Hy4IOvw4Ko7d43GJHAmoBwg= x', 'SHA256:ZSydMP8YVGma1Q4hR1XN2HlWMIAWwz1FWs1KXz4NmY8'],
  ];
  for (const [line, fp] of vectors) t.equal(fingerprint(line), fp, line.slice(0, 20));
});

t.test('public key parsing refuses what must never reach authorized_keys', async (t) => {
  const k = sshPub();
  const table: [string, string, string][] = [
    ['private key PEM', '-----BEGIN OPENSSH ' + 'PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA=\n-----END OPENSSH ' + 'PRIVATE KEY-----', 'looks-like-private-key'],
    ['private key body only', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=', 'looks-like-private-key'],
    ['options prefix', `command="sh" ${k}`, 'not-a-public-key'],
    ['two lines', `${k}\n${k}`, 'not-a-public-key'],
    ['dsa', `ssh-dss ${k.split(' ')[1]}`, 'unsupported-key-type'],
    ['type mismatch', `ssh-rsa ${k.split(' ')[1]}`, 'malformed-key'],
    ['not base64', 'ssh-ed25519 @@@@', 'malformed-key'],
    ['truncated blob', `ssh-ed25519 ${k.split(' ')[1].slice(0, 40)}`, 'malformed-key'],
    ['comment with quote', `${k} a"b`, 'not-a-public-key'],
    ['empty', '', 'not-a-public-key'],
  ];
  for (const [name, text, reason] of table) {
    const p = parsePublicKey(text);
    t.equal(p.ok ? 'ok' : p.reason, reason, name);
  }
  const ok = parsePublicKey(`${k} some-comment`);
  t.ok(ok.ok && ok.key.line === k, 'comment dropped, key kept');
});

t.test('a correctly signed row is trusted', async (t) => {
  const rows = [good(), good({ kind: 'node-client', host: null, port: null }), good({ kind: 'proxy', name: 'proxy1', host: null, port: null, tokenId: 'tok12345' })];
  const r = verifyRows(rows, cluster.publicKey, NOW);
  t.equal(r.trusted.length, 3);
  t.same(r.ignored, []);
  // a JSON round trip (as through a database) keeps it trusted
  t.equal(verifyRows(JSON.parse(JSON.stringify(rows)), cluster.publicKey, NOW).trusted.length, 3);
});

t.test('each kind of bad row is ignored with its reason', async (t) => {
  const cases: [string, () => unknown, IgnoreReason][] = [
    ['signed by another key (named as such)', () => good({}, attacker.secretKey), 'unknown-signer'],
    ['signed by another key, claiming ours', () => {
      const r = good({}, attacker.secretKey);
      return { ...r, signedBy: good().signedBy };
    }, 'bad-signature'],
    ['missing signature', () => ({ ...good(), signature: null }), 'missing-signature'],
    ['empty signature', () => ({ ...good(), signature: '' }), 'missing-signature'],
    ['tampered name', () => ({ ...good(), name: 'node2' }), 'bad-signature'],
    ['tampered host', () => ({ ...good(), host: '10.6.6.6' }), 'bad-signature'],
    ['tampered port', () => ({ ...good(), port: 2222 }), 'bad-signature'],
    ['kind changed proxy -> node-client', () => ({ ...good({ kind: 'proxy', host: null, port: null }), kind: 'node-client' }), 'bad-signature'],
    ['expiry removed', () => ({ ...good({ expiresAt: iso(NOW + 1000) }), expiresAt: null }), 'malformed'],
    ['expiry extended', () => ({ ...good({ expiresAt: iso(NOW + 1000) }), expiresAt: iso(NOW + 3600_000) }), 'bad-signature'],
    ['generation raised', () => ({ ...good(), generation: 99 }), 'bad-signature'],
    ['generation missing', () => ({ ...good(), generation: undefined }), 'malformed'],
    ['generation zero', () => ({ ...good(), generation: 0 }), 'malformed'],
    ['tombstone flag removed', () => ({ ...good({ retired: true }), retired: false }), 'bad-signature'],
    ['tombstone', () => good({ retired: true }), 'retired'],
    ['lifetime over 30 days', () => ({ ...good(), expiresAt: iso(NOW + 31 * 24 * 3600_000) }), 'malformed'],
    ['expires before created', () => ({ ...good(), expiresAt: iso(NOW - 2000) }), 'malformed'],
    ['key swapped (fingerprint updated)', () => {
      const k = sshPub();
      return { ...good(), publicKey: k, fingerprint: fingerprint(k) };
    }, 'bad-signature'],
    ['key swapped (fingerprint kept)', () => ({ ...good(), publicKey: sshPub() }), 'fingerprint-mismatch'],
    ['signature of another row', () => ({ ...good(), signature: good().signature }), 'bad-signature'],
    ['signature over raw bytes', () => ({ ...good(), signature: sign(new Uint8Array(5), cluster.secretKey) }), 'bad-signature'],
    ['expired', () => good({ expiresAt: iso(NOW - 1) }), 'expired'],
    ['expires exactly now', () => good({ expiresAt: iso(NOW) }), 'expired'],
    ['from the future', () => good({ createdAt: iso(NOW + 3600_000) }), 'not-yet-valid'],
    ['private key as public key', () => ({ ...good(), publicKey: '-----BEGIN OPENSSH ' + 'PRIVATE KEY-----' }), 'looks-like-private-key'],
    ['not a key', () => ({ ...good(), publicKey: 'hello world' }), 'not-a-public-key'],
    ['options smuggled in key', () => ({ ...good(), publicKey: `from="*" ${good().publicKey}` }), 'not-a-public-key'],
    ['key with comment (non-canonical)', () => ({ ...good(), publicKey: `${good().publicKey} x` }), 'not-a-public-key'],
    ['bad kind', () => ({ ...good(), kind: 'root' }), 'malformed'],
    ['host-key row without port', () => ({ ...good(), port: null }), 'malformed'],
    ['host with spaces', () => ({ ...good(), host: 'a b' }), 'malformed'],
    ['name with newline', () => ({ ...good(), name: 'a\nb' }), 'malformed'],
    ['not an object', () => 'row', 'malformed'],
    ['null', () => null, 'malformed'],
    ['created not ISO', () => ({ ...good(), createdAt: 'yesterday' }), 'malformed'],
  ];
  for (const [name, make, reason] of cases) {
    const r = verifyRows([make()], cluster.publicKey, NOW);
    t.equal(r.trusted.length, 0, `${name}: not trusted`);
    t.equal(r.ignored[0]?.reason, reason, `${name}: ${reason}`);
  }
});

t.test('revoked token removes its proxy keys; a key cannot be both proxy and node client', async (t) => {
  const proxy = good({ kind: 'proxy', name: 'p1', host: null, port: null, tokenId: 'tok-revoked' });
  const r1 = verifyRows([proxy], cluster.publicKey, NOW, { revokedTokenIds: new Set(['tok-revoked']) });
  t.equal(r1.trusted.length, 0);
  t.equal(r1.ignored[0].reason, 'token-revoked');
  const asClient = signRow({ kind: 'node-client', name: 'node9', publicKey: proxy.publicKey, createdAt: iso(NOW), expiresAt: iso(NOW + 3600_000), generation: 1 }, cluster.secretKey);
  const r2 = verifyRows([asClient, proxy], cluster.publicKey, NOW);
  t.same(r2.trusted.map((x) => x.kind), ['proxy']);
  t.equal(r2.ignored[0].reason, 'conflicting-kind');
});

t.test('a bad verify key trusts nothing', async (t) => {
  const r = verifyRows([good()], 'garbage', NOW);
  t.equal(r.trusted.length, 0);
  t.equal(r.ignored[0].reason, 'unknown-signer');
});

t.test('signRow refuses bad input', async (t) => {
  t.throws(() => good({ publicKey: '-----BEGIN OPENSSH ' + 'PRIVATE KEY-----' }));
  t.throws(() => good({ host: null }));
  t.throws(() => good({ name: '../etc' }));
  t.throws(() => good({ createdAt: '2026' }));
});

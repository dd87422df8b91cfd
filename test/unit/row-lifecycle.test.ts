/**
 * The registry's expiry and revocation rules (docs/security.md, "Registry rows:
 * expiry and revocation") as a table: what a reader trusts for one (kind, name)
 * given the rows in the table and the generations it saw before.
 */
import t from 'tap';
import nacl from 'tweetnacl';
import { RegistryRow, signRow, verifyRows } from '../../src/core/registry-row';
import { judgeLifecycle, latestGenerations, needsRenewal, nextGeneration, parseGenerations, rowKey, rowTtlErrors, serializeGenerations } from '../../src/core/row-lifecycle';
import { generateSigningKeyPair } from '../../src/core/signing';

function sshPub(): string {
  const type = Buffer.from('ssh-ed25519');
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  return `ssh-ed25519 ${Buffer.concat([u32(type.length), type, u32(32), Buffer.from(nacl.randomBytes(32))]).toString('base64')}`;
}
const cluster = generateSigningKeyPair();
const attacker = generateSigningKeyPair();
const H = 3600_000;
const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const OLD_KEY = sshPub();
const NEW_KEY = sshPub();

/** A proxy row of proxy1 signed at `at` hours (relative to NOW) for 24 h. */
function row(generation: number, at: number, opts: { key?: string; retired?: boolean; signer?: string; ttlH?: number } = {}): RegistryRow {
  return signRow({
    kind: 'proxy', name: 'proxy1', publicKey: opts.key ?? OLD_KEY, tokenId: 'tok-0001',
    createdAt: iso(NOW + at * H), expiresAt: iso(NOW + (at + (opts.ttlH ?? 24)) * H), generation, retired: opts.retired,
  }, opts.signer ?? cluster.secretKey);
}

type Case = {
  name: string;
  rows: () => unknown[];
  seen?: [string, number][];
  /** fingerprints' keys trusted: 'old', 'new' */
  trusted: ('old' | 'new')[];
  /** reasons of the ignored rows, in order */
  ignored: string[];
};

const fp = (k: string) => signRow({ kind: 'proxy', name: 'x', publicKey: k, createdAt: iso(NOW), expiresAt: iso(NOW + H), generation: 1 }, cluster.secretKey).fingerprint;
const FP = { old: fp(OLD_KEY), new: fp(NEW_KEY) };
const K = rowKey('proxy', 'proxy1');

const cases: Case[] = [
  { name: 'fresh row', rows: () => [row(1, -1)], trusted: ['old'], ignored: [] },
  { name: 'expired row', rows: () => [row(1, -25)], trusted: [], ignored: ['expired'] },
  { name: 'expires exactly now', rows: () => [row(1, -24)], trusted: [], ignored: ['expired'] },
  { name: 'renewed, overlap: old row still valid and its renewal both present', rows: () => [row(1, -13), row(2, -1)], trusted: ['old'], ignored: ['superseded'] },
  { name: 'renewed, old row already expired', rows: () => [row(1, -25), row(2, -1)], trusted: ['old'], ignored: ['superseded'] },
  { name: 'about to expire, renewal not yet written: still trusted', rows: () => [row(1, -23.99)], trusted: ['old'], ignored: [] },
  { name: 're-keyed: old key superseded by a newer generation', rows: () => [row(1, -2), row(2, -1, { key: NEW_KEY })], trusted: ['new'], ignored: ['superseded'] },
  { name: 'replayed retired row next to its tombstone', rows: () => [row(1, -2), row(2, -1, { retired: true })], trusted: [], ignored: ['superseded', 'retired'] },
  { name: 'tombstone deleted, retired row replayed, reader saw the tombstone', rows: () => [row(1, -2)], seen: [[K, 2]], trusted: [], ignored: ['superseded'] },
  { name: 'tombstone deleted, retired row replayed, reader never saw it (limit: trusted until expiry)', rows: () => [row(1, -2)], trusted: ['old'], ignored: [] },
  { name: 'newest row deleted, reader saw it: older row stays superseded (no key: denial of service)', rows: () => [row(1, -2)], seen: [[K, 3]], trusted: [], ignored: ['superseded'] },
  { name: 'expired newer row still supersedes an older one', rows: () => [row(1, -30, { ttlH: 48 }), row(2, -25, { key: NEW_KEY })], trusted: [], ignored: ['superseded', 'expired'] },
  { name: 'old tombstone replayed over a newer key: the newer key wins', rows: () => [row(2, -5, { retired: true }), row(3, -1, { key: NEW_KEY })], trusted: ['new'], ignored: ['superseded'] },
  { name: 'two current rows at the same generation: both trusted', rows: () => [row(2, -1), row(2, -1, { key: NEW_KEY })], trusted: ['old', 'new'], ignored: [] },
  { name: 'forged row with a huge generation: refused, supersedes nothing', rows: () => [row(1, -1), { ...row(9999, -1, { key: NEW_KEY, signer: attacker.secretKey }), signedBy: row(1, -1).signedBy }], trusted: ['old'], ignored: ['bad-signature'] },
  { name: 'forged tombstone: refused, the key stays', rows: () => [row(1, -1), { ...row(2, -1, { retired: true }), signature: row(1, -1).signature }], trusted: ['old'], ignored: ['bad-signature'] },
  { name: 'generation edited upward on a signed row: refused', rows: () => [{ ...row(1, -1), generation: 5 }, row(2, -1, { key: NEW_KEY })], trusted: ['new'], ignored: ['bad-signature'] },
  { name: 'unsigned row with a higher generation: refused, supersedes nothing', rows: () => [row(1, -1), { ...row(2, -1, { key: NEW_KEY }), signature: null }], trusted: ['old'], ignored: ['missing-signature'] },
];

t.test('what a reader trusts: the table', async (t) => {
  for (const c of cases) {
    const r = verifyRows(c.rows(), cluster.publicKey, NOW, { seenGenerations: new Map(c.seen ?? []) });
    t.same(r.trusted.map((x) => x.fingerprint).sort(), c.trusted.map((k) => FP[k]).sort(), `${c.name}: trusted ${c.trusted.join(', ') || 'nothing'}`);
    t.same(r.ignored.map((x) => x.reason).sort(), [...c.ignored].sort(), `${c.name}: ignored ${c.ignored.join(', ') || 'nothing'}`);
  }
});

t.test('generations: only signed rows count, memory merges in', async (t) => {
  const r = verifyRows([row(3, -1), { ...row(50, -1), signature: 'x' }], cluster.publicKey, NOW, { seenGenerations: new Map([[rowKey('node-host', 'n1'), 7]]) });
  t.equal(r.generations.get(K), 3);
  t.equal(r.generations.get(rowKey('node-host', 'n1')), 7);
  t.equal(nextGeneration('proxy', 'proxy1', r.generations), 4);
  t.equal(nextGeneration('proxy', 'other', r.generations), 1);
  t.same([...latestGenerations([{ kind: 'proxy', name: 'proxy1', generation: 2 }], new Map([[K, 5]]))], [[K, 5]], 'memory is never lowered');
});

t.test('renewal at half-life, with overlap', async (t) => {
  const r = row(1, 0);
  t.equal(needsRenewal(r, NOW + 11.9 * H), false, 'not before half-life');
  t.equal(needsRenewal(r, NOW + 12 * H), true, 'at half-life');
  t.same(judgeLifecycle(r, new Map(), NOW + 12 * H), { ok: true }, 'the old row is still valid while its renewal is written');
  t.equal(judgeLifecycle(r, new Map(), NOW + 24 * H).ok, false, 'and expires at the end of its lifetime');
});

t.test('row lifetime setting', async (t) => {
  t.same(rowTtlErrors(24 * H, 2000), []);
  t.same(rowTtlErrors(60_000, 2000), []);
  t.match(rowTtlErrors(59_999, 2000)[0], /from 60000/);
  t.match(rowTtlErrors(31 * 24 * H, 2000)[0], /30 days/);
  t.match(rowTtlErrors(60_000, 10_000)[0], /10 x PGSWARM_KEY_SYNC_INTERVAL_MS/);
});

t.test('the generations memory file round-trips and refuses junk', async (t) => {
  const g = new Map([[rowKey('proxy', 'p1'), 4], [rowKey('node-client', 'n1'), 2]]);
  t.same([...parseGenerations(serializeGenerations(g))!].sort(), [...g].sort());
  for (const bad of ['', 'nope', '[]', '{"a":0}', '{"a":1.5}', '{"a":"2"}', 'null']) t.equal(parseGenerations(bad), null, JSON.stringify(bad));
});

import t from 'tap';
import nacl from 'tweetnacl';
import { RegistryRow, signRow } from '../../src/core/registry-row';
import { authorizedKeys, knownHosts, sshdConfig, GENERATED_HEADER } from '../../src/core/render-ssh';
import { createHostVerifier, knownHostEntriesFromRows, parseKnownHosts } from '../../src/core/host-verifier';
import { generateSigningKeyPair } from '../../src/core/signing';

function sshPub(): string {
  const type = Buffer.from('ssh-ed25519');
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  return `ssh-ed25519 ${Buffer.concat([u32(type.length), type, u32(32), Buffer.from(nacl.randomBytes(32))]).toString('base64')}`;
}
const k = generateSigningKeyPair();
const at = '2026-11-27T12:00:00.000Z';
const row = (o: Partial<Parameters<typeof signRow>[0]>): RegistryRow =>
  signRow({ kind: 'node-client', name: 'n1', publicKey: sshPub(), createdAt: at, expiresAt: '2026-11-28T12:00:00.000Z', generation: 1, ...o }, k.secretKey);

const client1 = row({ kind: 'node-client', name: 'node1' });
const client2 = row({ kind: 'node-client', name: 'node2' });
const proxy = row({ kind: 'proxy', name: 'proxy1', tokenId: 'tok00001' });
const host1 = row({ kind: 'node-host', name: 'node1', host: '10.0.0.1', port: 2222, aliases: ['pgnode1', 'tasks.pgnode1'] });
const host2 = row({ kind: 'node-host', name: 'node2', host: 'node2', port: 22 });
const CMD = '/usr/local/bin/current-primary';

t.test('authorized_keys: node clients restricted, proxies forced to current-primary, host keys left out', async (t) => {
  const out = authorizedKeys([proxy, host1, client2, client1], { currentPrimaryCommand: CMD });
  const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
  t.same(lines, [
    `restrict ${client1.publicKey} pgswarm-node-client:node1`,
    `restrict ${client2.publicKey} pgswarm-node-client:node2`,
    `restrict,command="${CMD}" ${proxy.publicKey} pgswarm-proxy:proxy1`,
  ]);
  t.ok(out.startsWith(GENERATED_HEADER));
  t.equal(authorizedKeys([client1, proxy, client2, client1], { currentPrimaryCommand: CMD }), out.replace(/\n$/, '\n'), 'order-independent and de-duplicated');
  t.equal(authorizedKeys([], { currentPrimaryCommand: CMD }), GENERATED_HEADER, 'nothing trusted, nothing authorised');
  for (const line of lines) t.match(line, /^restrict[ ,]/, 'every line starts with restrict');
});

t.test('authorized_keys refuses forced commands that could escape the option', async (t) => {
  const bad = ['current-primary', '/bin/x" ,permitopen="*', '/bin/x\nssh-ed25519 AAAA', '/bin/a  b', "/bin/x'y", '/bin/$(id)', ''];
  for (const c of bad) t.throws(() => authorizedKeys([proxy], { currentPrimaryCommand: c }), JSON.stringify(c));
  t.doesNotThrow(() => authorizedKeys([proxy], { currentPrimaryCommand: '/usr/bin/node /opt/pgswarm/dist/src/bin/current-primary.js' }));
});

t.test('known_hosts: every name a node is reached by, bracketed port unless 22', async (t) => {
  const out = knownHosts([client1, proxy, host2, host1]);
  const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
  t.same(lines, [
    `[10.0.0.1]:2222,[node1]:2222,[pgnode1]:2222,[tasks.pgnode1]:2222 ${host1.publicKey}`,
    `node2 ${host2.publicKey}`,
  ]);
});

t.test('host verifier accepts only the listed key for the dialled name and port', async (t) => {
  const entries = parseKnownHosts(knownHosts([host1, host2]));
  t.same(entries, knownHostEntriesFromRows([host1, host2]), 'parsing the rendered file gives the same entries as the rows');
  const blob = (r: RegistryRow) => Buffer.from(r.publicKey.split(' ')[1], 'base64');
  const seen: boolean[] = [];
  const table: [string, string, number, Buffer, boolean][] = [
    ['right key, host', '10.0.0.1', 2222, blob(host1), true],
    ['right key, alias', 'tasks.pgnode1', 2222, blob(host1), true],
    ['right key, wrong port', '10.0.0.1', 22, blob(host1), false],
    ['other node\'s key', '10.0.0.1', 2222, blob(host2), false],
    ['client key', '10.0.0.1', 2222, blob(client1), false],
    ['unknown host', '10.9.9.9', 2222, blob(host1), false],
    ['port 22 plain pattern', 'node2', 22, blob(host2), true],
  ];
  for (const [name, h, p, key, want] of table) {
    t.equal(createHostVerifier(entries, h, p, (r) => seen.push(r.accepted))(key), want, name);
  }
  t.same(seen, table.map((x) => x[4]), 'every decision is reported');
  t.equal(createHostVerifier([], 'node2', 22)(blob(host2)), false, 'empty known_hosts accepts nothing');
});

t.test('sshd_config is hardened', async (t) => {
  const out = sshdConfig({ port: 2222, listenAddress: '0.0.0.0', hostKeyFile: '/var/lib/pgswarm/ssh/ssh_host_ed25519_key', authorizedKeysFile: '/etc/pgswarm/ssh/authorized_keys', allowUser: 'postgres', pidFile: '/run/pgswarm/sshd.pid' });
  const want = [
    'Port 2222', 'ListenAddress 0.0.0.0', 'HostKey /var/lib/pgswarm/ssh/ssh_host_ed25519_key', 'PidFile /run/pgswarm/sshd.pid',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin no', 'AllowUsers postgres',
    'AuthorizedKeysFile /etc/pgswarm/ssh/authorized_keys', 'AllowTcpForwarding no', 'AllowAgentForwarding no', 'X11Forwarding no',
    'PermitTunnel no', 'PermitUserEnvironment no', 'PermitTTY no', 'StrictModes yes', 'UsePAM no', 'DisableForwarding yes',
    'AuthenticationMethods publickey', 'AllowStreamLocalForwarding no',
  ];
  const lines = out.split('\n');
  for (const w of want) t.ok(lines.includes(w), w);
  t.notMatch(out, /^Subsystem/m, 'no sftp subsystem');
  t.notMatch(out, /^(PasswordAuthentication|KbdInteractiveAuthentication|PermitRootLogin|X11Forwarding|AllowTcpForwarding|AllowAgentForwarding|PermitTunnel|PermitTTY|UsePAM|GatewayPorts) yes/m, 'nothing dangerous switched on');
  const bad: [string, Record<string, unknown>][] = [
    ['root user', { allowUser: 'root' }],
    ['relative key', { hostKeyFile: 'key' }],
    ['newline in path', { authorizedKeysFile: '/a\nPermitRootLogin yes' }],
    ['port 0', { port: 0 }],
    ['space in listen address', { listenAddress: '0.0.0.0 x' }],
  ];
  const base = { port: 22, listenAddress: '0.0.0.0', hostKeyFile: '/k', authorizedKeysFile: '/a', allowUser: 'postgres', pidFile: '/p' };
  for (const [name, o] of bad) t.throws(() => sshdConfig({ ...base, ...o } as never), name);
});

t.test('split key files: the run user gets node-client keys only, the answer account proxy keys only', async (t) => {
  const node = authorizedKeys([proxy, client1, host1], { currentPrimaryCommand: CMD, only: 'node-client' });
  const answer = authorizedKeys([proxy, client1, host1], { currentPrimaryCommand: CMD, only: 'proxy' });
  t.match(node, client1.publicKey);
  t.notMatch(node, proxy.publicKey, 'no proxy key can log in as the PostgreSQL OS user');
  t.match(answer, `restrict,command="${CMD}" ${proxy.publicKey}`);
  t.notMatch(answer, client1.publicKey, 'no node-client key can log in as the answer account');
});

t.test('sshd_config: the answer account in AllowUsers, its own key file and a ForceCommand in a final Match block', async (t) => {
  const base = { port: 2222, listenAddress: '0.0.0.0', hostKeyFile: '/h/key', authorizedKeysFile: '/s/authorized_keys', allowUser: 'postgres', pidFile: '/s/sshd.pid' };
  const out = sshdConfig({ ...base, answer: { user: 'pgswarm-answer', authorizedKeysFile: '/s/answer_keys', command: '/usr/bin/perl /a/relay' } });
  t.match(out, /\nAllowUsers postgres pgswarm-answer\n/);
  t.match(out, /\nMatch User pgswarm-answer\n  AuthorizedKeysFile \/s\/answer_keys\n  ForceCommand \/usr\/bin\/perl \/a\/relay\n$/);
  t.throws(() => sshdConfig({ ...base, answer: { user: 'postgres', authorizedKeysFile: '/s/k', command: '/x' } }), /answer.user/, 'the answer account is never the run user');
  t.throws(() => sshdConfig({ ...base, answer: { user: 'pgswarm-answer', authorizedKeysFile: '/s/k', command: '/x "; sh' } }), /answer.command/);
});

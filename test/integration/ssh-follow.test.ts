/**
 * SshFollower against a real sshd on loopback whose forced command is a small
 * script speaking the stream protocol (answers, heartbeats, silence, garbage,
 * one-shot): the follower reports ok → timeout → reconnect → garbage as the
 * protocol says, keeps one session while the node streams, passes answer
 * changes on at once, and refuses a host key that is not in known_hosts
 * (read again on every reconnect). Every wait is bounded.
 */
import t from 'tap';
import { ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { ensureKeyPair, KeyPairInfo } from '../../src/adapters/ssh-keys';
import { parseKnownHosts, KnownHostEntry } from '../../src/core/host-verifier';
import { SshFollower, FOLLOW_COMMAND } from '../../src/adapters/ssh-follow';
import type { AskResult } from '../../src/core/node-answer';
import type { Member } from '../../src/core/node-config';
import { makeRootDir, startSshd, unlockPostgresForKeys, knownHostLine, sh, portOpen } from '../helpers/loopback-sshd';

const SSH_PORT = 15661;
const HEARTBEAT_TIMEOUT_MS = 1200;

t.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir = '';
let sshd: ChildProcess | undefined;
let follower: SshFollower | undefined;
let known: KnownHostEntry[] = [];
let hostKey: KeyPairInfo;
let rogueKey: KeyPairInfo;
let clientKey: KeyPairInfo;
const pushes: { at: number; r: AskResult }[] = [];

const ctl = (f: string) => path.join(dir, 'ctl', f);
const setMode = (m: string) => writeFileSync(ctl('mode'), `${m}\n`);
const setPrimary = (p: string) => writeFileSync(ctl('primary'), `${p}\n`);
const sessions = () => (existsSync(ctl('log/sessions')) ? readFileSync(ctl('log/sessions'), 'utf8').split('\n').filter(Boolean) : []);

async function waitPush(what: string, from: number, pred: (r: AskResult) => boolean, timeoutMs: number): Promise<{ at: number; r: AskResult }> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const hit = pushes.slice(from).find((p) => pred(p.r));
    if (hit) return hit;
    await sleep(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; pushes since: ${JSON.stringify(pushes.slice(from).map((p) => p.r.kind === 'ok' ? `ok:${p.r.answer.primary}` : `${p.r.kind}:${'detail' in p.r ? p.r.detail : ''}`))}`);
}
const isOk = (primary: string | null) => (r: AskResult) => r.kind === 'ok' && r.answer.primary === primary;

// The node side: the answer of node "n2", then per mode (re-read every 200 ms):
// stream = a HEARTBEAT, or a new ANSWER when ctl/primary changed; silent = nothing (bounded);
// garbage = a line off the protocol; exit = end the session (exit 1); oneshot = from the next session on,
// one answer and exit 0/3 (an old node; a streaming session ends with exit 1 when it sees it).
const SCRIPT = `#!/bin/sh
d=__DIR__
echo "$SSH_ORIGINAL_COMMAND" >> $d/log/sessions
answer() {
  if [ "$1" = none ]; then echo "PRIMARY: none"; echo '{"primary":null,"node":"n2","role":"standby","timeline":1,"lsn":"0/1","upstream":null,"members":[],"reason":"test"}'
  else echo "PRIMARY: $1"; echo '{"primary":"'"$1"'","node":"n2","role":"standby","timeline":1,"lsn":"0/1","upstream":"'"$1"'","members":[],"reason":"test"}'; fi
}
read -r cur < $d/primary
read -r mode < $d/mode
if [ "$mode" = oneshot ]; then answer "$cur"; [ "$cur" = none ] && exit 3; exit 0; fi
answer "$cur" || exit 0
i=0
while [ $i -lt 300 ]; do
  i=$((i+1))
  sleep 0.2
  read -r mode < $d/mode
  case $mode in
    silent) ;;
    garbage) echo "this is not the protocol" || exit 0 ;;
    exit|oneshot) exit 1 ;;
    *) read -r new < $d/primary
       if [ "$new" != "$cur" ]; then cur=$new; answer "$cur" || exit 0; else echo HEARTBEAT || exit 0; fi ;;
  esac
done
`;

const member: Member = { name: 'n2', host: '127.0.0.1', port: 5432, sshPort: SSH_PORT };

// A failing step ends only its own subtest (every wait is bounded); whatever happens, our sshd dies with us.
process.on('exit', () => { if (sshd && sshd.exitCode === null) sshd.kill('SIGKILL'); });

t.before(async () => {
  if (await portOpen(SSH_PORT)) throw new Error(`port ${SSH_PORT} is already taken (a leftover sshd?)`);
  await unlockPostgresForKeys();
  const pgUid = Number((await sh('id', ['-u', 'postgres'])).stdout.trim());
  const pgGid = Number((await sh('id', ['-g', 'postgres'])).stdout.trim());
  dir = await makeRootDir('ssh-follow-');
  for (const d of ['etc', 'logs', 'ctl', 'proxy']) await fsp.mkdir(path.join(dir, d), { mode: 0o755 });
  await fsp.mkdir(ctl('log'), { mode: 0o755 });
  await fsp.chown(ctl('log'), pgUid, pgGid);
  hostKey = await ensureKeyPair(path.join(dir, 'etc', 'ssh_host_ed25519_key'), { uid: 0, gid: 0, comment: 'n2-host' });
  rogueKey = await ensureKeyPair(path.join(dir, 'etc', 'other_host_ed25519_key'), { uid: 0, gid: 0, comment: 'not-n2' });
  clientKey = await ensureKeyPair(path.join(dir, 'proxy', 'id_ed25519'), { comment: 'proxy1' });
  const script = path.join(dir, 'etc', 'current-primary');
  await fsp.writeFile(script, SCRIPT.replace('__DIR__', path.join(dir, 'ctl')), { mode: 0o755 });
  const ak = path.join(dir, 'etc', 'authorized_keys');
  await fsp.writeFile(ak, `restrict,command="${script}" ${clientKey.publicKeyLine} pgswarm-proxy:proxy1\n`, { mode: 0o644 });
  setMode('stream');
  setPrimary('n1');
  known = parseKnownHosts(knownHostLine(SSH_PORT, hostKey.publicKeyLine));
  sshd = await startSshd({ etc: path.join(dir, 'etc'), logs: path.join(dir, 'logs'), name: 'sshd', port: SSH_PORT, hostKeyFile: hostKey.privateKeyPath, authorizedKeysFile: ak });
});

t.teardown(async () => {
  follower?.close();
  setMode('exit');
  if (sshd && sshd.exitCode === null) sshd.kill('SIGTERM');
  await sleep(300); // the scripts notice "exit" within 200 ms
  if (dir && !process.env.PGSWARM_KEEP_TEST_DIR) await fsp.rm(dir, { recursive: true, force: true });
});

let unwatch: (() => void) | undefined;

t.test('streams: the first answer, then heartbeats as ok pushes, on one session', async (t) => {
  let knownReads = 0;
  follower = new SshFollower({
    user: 'postgres', privateKey: readFileSync(clientKey.privateKeyPath), knownHosts: () => { knownReads++; return known; },
    connectTimeoutMs: 3000, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, backoff: { minMs: 100, maxMs: 400 }, legacyPollMs: 300,
  });
  const started = Date.now();
  unwatch = follower.watch(member, (r) => pushes.push({ at: Date.now(), r }));
  const first = await waitPush('the first answer', 0, isOk('n1'), 5000);
  t.ok(first.at - started < 5000, `first answer after ${first.at - started} ms`);
  await sleep(1500);
  const oks = pushes.filter((p) => p.r.kind === 'ok');
  t.ok(oks.length >= 5, `${oks.length} ok pushes in ~1.5 s (a heartbeat every 200 ms refreshes the answer)`);
  t.equal(pushes.filter((p) => p.r.kind !== 'ok').length, 0, 'nothing but ok');
  t.same(sessions(), [FOLLOW_COMMAND], 'one session, and the node was asked exactly `current-primary --follow`');
  t.equal(knownReads, 1, 'known_hosts read once per connect');
});

t.test('an answer change is pushed at once, mid-stream', async (t) => {
  const from = pushes.length;
  const changedAt = Date.now();
  setPrimary('none');
  const p = await waitPush('primary none', from, isOk(null), 3000);
  t.ok(p.at - changedAt < 1000, `pushed ${p.at - changedAt} ms after the change (the script looks every 200 ms)`);
  setPrimary('n1');
  await waitPush('primary n1 again', pushes.length, isOk('n1'), 3000);
  t.equal(sessions().length, 1, 'still the same session');
});

t.test('silence: timeout after heartbeatTimeoutMs, then a reconnect that gets answers again', async (t) => {
  const from = pushes.length;
  const silentAt = Date.now();
  setMode('silent');
  const to = await waitPush('timeout', from, (r) => r.kind === 'timeout', HEARTBEAT_TIMEOUT_MS + 3000);
  const took = to.at - silentAt;
  t.ok(took >= HEARTBEAT_TIMEOUT_MS - 250 && took < HEARTBEAT_TIMEOUT_MS + 1500, `timeout reported ${took} ms after the node went silent`);
  t.match((to.r as { detail: string }).detail, /no line for/);
  // the reconnected session starts with an answer even in silent mode, then goes silent again
  await waitPush('an answer on a new session', pushes.indexOf(to) + 1, isOk('n1'), 5000);
  t.ok(sessions().length >= 2, `reconnected (${sessions().length} sessions)`);
  setMode('stream');
  const back = pushes.length;
  await sleep(HEARTBEAT_TIMEOUT_MS + 800);
  const since = pushes.slice(back);
  t.ok(since.filter((p) => p.r.kind === 'ok').length >= 3, 'streaming again: heartbeats');
  t.equal(since.filter((p) => p.r.kind === 'timeout').length <= 1, true, 'at most the timeout of the silent session in flight');
});

t.test('garbage: reported with its reason, session dropped and reopened', async (t) => {
  const before = sessions().length;
  const from = pushes.length;
  setMode('garbage');
  const g = await waitPush('garbage', from, (r) => r.kind === 'garbage', 3000);
  t.match((g.r as { detail: string }).detail, /unexpected line "this is not the protocol"/);
  await waitPush('a reconnect after garbage', pushes.indexOf(g) + 1, isOk('n1'), 5000);
  t.ok(sessions().length > before, 'a new session was opened');
  setMode('stream');
  await sleep(HEARTBEAT_TIMEOUT_MS);
  const from2 = pushes.length;
  await sleep(800);
  t.ok(pushes.slice(from2).every((p) => p.r.kind === 'ok') && pushes.length > from2, 'only ok pushes once the node behaves');
});

t.test('a node too old to stream (one answer, exit 0) is asked again on the same connection, without errors', async (t) => {
  // the streaming script ends (a one-time 'error'), then every new session is one-shot
  const sw = pushes.length;
  setMode('oneshot');
  const ended = await waitPush('the streaming session to end', sw, (r) => r.kind === 'error', 5000);
  await waitPush('an answer after the switch', pushes.indexOf(ended) + 1, isOk('n1'), 5000);
  const accepted = () => (readFileSync(path.join(dir, 'logs', 'sshd.log'), 'utf8').match(/Accepted publickey/g) ?? []).length;
  const from = pushes.length;
  const before = sessions().length;
  const logins = accepted();
  await sleep(2000);
  const since = pushes.slice(from);
  t.ok(since.filter((p) => p.r.kind === 'ok').length >= 3, `${since.filter((p) => p.r.kind === 'ok').length} answers from one-shot runs`);
  t.ok(sessions().length - before >= 3, `one run per legacy poll (${sessions().length - before} runs in 2 s, poll 300 ms)`);
  t.equal(accepted(), logins, 'all on the same SSH connection (no new login)');
  t.same(since.filter((p) => p.r.kind !== 'ok').map((p) => p.r.kind), [], 'no error between one-shot answers');
  const back = pushes.length;
  setMode('stream'); // one-shot sessions end by themselves: the next one streams
  await sleep(1500);
  t.ok(pushes.slice(back).filter((p) => p.r.kind === 'ok').length >= 3 && sessions().length - before >= 1, 'streaming again');
});

t.test('a host key not in known_hosts is refused (known_hosts is read again on every reconnect)', async (t) => {
  known = parseKnownHosts(knownHostLine(SSH_PORT, rogueKey.publicKeyLine)); // the registry now says: another key
  const from = pushes.length;
  setMode('exit'); // the node ends the session: the follower reports it and reconnects
  const err = await waitPush('end of stream', from, (r) => r.kind === 'error', 3000);
  t.match((err.r as { detail: string }).detail, /stream ended \(exit 1/);
  const rej = await waitPush('host key rejected', from, (r) => r.kind === 'host-key-rejected', 5000);
  t.match((rej.r as { detail: string }).detail, new RegExp(hostKey.fingerprint.replace(/[+/]/g, '.')), 'names the presented key');
  const sessionsBefore = sessions().length;
  setMode('stream');
  await sleep(1000);
  t.equal(sessions().length, sessionsBefore, 'no session was opened with the refused key');
  t.notOk(pushes.slice(pushes.indexOf(rej)).some((p) => p.r.kind === 'ok'), 'no answer accepted from the refused host');
  known = parseKnownHosts(knownHostLine(SSH_PORT, hostKey.publicKeyLine));
  await waitPush('answers again with the right key', pushes.length, isOk('n1'), 8000);
});

t.test('unwatch stops every push and closes the session', async (t) => {
  unwatch?.();
  const n = pushes.length;
  await sleep(1000);
  t.equal(pushes.length, n, 'no push after unwatch');
});

/**
 * The proxies' forced command (a Perl relay) against the node agent's answer server, on a real
 * UNIX socket: one-shot answers with matching exit codes, streaming with heartbeats, a silent or
 * missing agent, and nothing taken from the caller but the exact follow request.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { renderAnswerRelay, FOLLOW_REQUEST } from '../../src/core/answer-relay';
import { AnswerServer } from '../../src/runtime/answer-server';
import { currentPrimary, formatCurrentPrimary, parseCurrentPrimary, MemberView } from '../../src/core/current-primary';
import { createLogger } from '../../src/core/log';
import { Writable } from 'node:stream';

const P = (name: string, timeline = 1): MemberView => ({ name, reachable: true, role: 'primary', timeline, lsn: '0/1', upstream: null, streaming: false });
const S = (name: string, up: string): MemberView => ({ name, reachable: true, role: 'standby', timeline: 1, lsn: '0/1', upstream: up, streaming: true });

const log = createLogger('test', { dest: new Writable({ write: (_c, _e, cb) => cb() }) });

/** Runs the relay without blocking the event loop (the answer server lives in this process). */
function run(relay: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn('/usr/bin/perl', [relay], { env });
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const timer = setTimeout(() => c.kill('SIGKILL'), 10000);
    c.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout }); });
  });
}

function relayIn(dir: string, node = 'n2') {
  const sock = path.join(dir, 'answer', 'answer.sock');
  const relay = path.join(dir, 'relay.pl');
  fs.writeFileSync(relay, renderAnswerRelay(sock, node));
  return { sock, relay };
}

t.test('no agent: a well-formed none, exit 3', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
  const { relay } = relayIn(dir);
  const r = spawnSync('/usr/bin/perl', [relay], { encoding: 'utf8', env: { SSH_ORIGINAL_COMMAND: 'cat /etc/shadow' }, timeout: 10000 });
  t.equal(r.status, 3);
  const p = parseCurrentPrimary(r.stdout);
  t.ok(p, 'parseable');
  t.equal(p!.primary, null);
  t.equal(p!.node, 'n2');
  t.match(p!.reason, /does not answer/);
});

t.test('no agent while streaming: nothing on stdout, exit 1 (the proxy reconnects)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
  const { relay } = relayIn(dir);
  const r = spawnSync('/usr/bin/perl', [relay], { encoding: 'utf8', env: { SSH_ORIGINAL_COMMAND: FOLLOW_REQUEST }, timeout: 10000 });
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
});

t.test('one-shot and streaming answers from the agent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
  const { sock, relay } = relayIn(dir);
  const server = new AnswerServer(sock, log);
  await server.start();
  t.teardown(() => server.close().catch(() => undefined));
  t.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o755, 'the socket directory is writable by its owner only');

  // Before the first round: the relay waits, then says none after 5 s; we publish before that.
  const withPrimary = formatCurrentPrimary(currentPrimary('n2', [P('n1'), S('n2', 'n1')]));
  setTimeout(() => server.publish(withPrimary), 300);
  const first = await run(relay, { SSH_ORIGINAL_COMMAND: 'rm -rf /' });
  t.equal(first.status, 0, 'a primary: exit 0');
  t.equal(first.stdout, withPrimary, 'the answer exactly as published');

  const none = formatCurrentPrimary(currentPrimary('n2', [S('n2', 'n1')]));
  server.publish(none);
  const second = await run(relay);
  t.equal(second.status, 3, 'no primary: exit 3, matching the answer');
  t.equal(second.stdout, none);

  // Streaming: the current answer at once, heartbeats while unchanged, the new answer on change.
  const child = spawn('/usr/bin/perl', [relay], { env: { SSH_ORIGINAL_COMMAND: FOLLOW_REQUEST } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    return re.test(out);
  };
  t.ok(await waitFor(/^PRIMARY: none\n\{.*\}\n$/), 'the current answer right after connect');
  server.publish(none);
  server.publish(none);
  t.ok(await waitFor(/\nHEARTBEAT\nHEARTBEAT\n$/), 'unchanged rounds are heartbeats');
  server.publish(withPrimary);
  t.ok(await waitFor(/HEARTBEAT\nPRIMARY: n1\n\{.*\}\n$/), 'a changed answer is sent whole');
  t.equal(server.connected, 1);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await server.close();
  t.equal(await exited, 1, 'the agent going away ends the stream with exit 1');
  for (let i = 0; i < 40 && server.connected > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(server.connected, 0, 'a closed relay is forgotten');
});

t.test('a planted directory at the socket path is moved aside', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
  const { sock } = relayIn(dir);
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'elsewhere-'));
  fs.symlinkSync(target, path.dirname(sock));
  const server = new AnswerServer(sock, log);
  await server.start();
  t.teardown(() => server.close());
  t.notOk(fs.lstatSync(path.dirname(sock)).isSymbolicLink(), 'the symlink was not followed');
  t.same(fs.readdirSync(target), [], 'nothing was created through it');
});

t.test('the relay refuses to render with an unsafe path or name', async (t) => {
  t.throws(() => renderAnswerRelay("/tmp/x'; system('id'); '", 'n1'));
  t.throws(() => renderAnswerRelay('/tmp/a.sock', "n1'"));
});

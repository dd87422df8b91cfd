import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, scrubText } from '../../src/core/log';

function capture() {
  const lines: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { lines, log: createLogger('test', { dest: dest as never }) };
}

t.test('passwords, keys and tokens are redacted from log events', async (t) => {
  const { lines, log } = capture();
  log.info({ password: 'p4ss', cfg: { password: 'p4ss2', signingKey: 'SIGNKEY', nested: { privateKey: 'PRIVKEY' } }, token: 'TOKEN123', secret: 'S3' }, 'decision');
  const out = lines.join('');
  for (const s of ['p4ss', 'p4ss2', 'SIGNKEY', 'PRIVKEY', 'TOKEN123', 'S3"']) t.notOk(out.includes(s), `${s} not in the log`);
  t.match(out, /\[redacted\]/);
  const ev = JSON.parse(lines[0]);
  t.equal(ev.msg, 'decision');
  t.equal(ev.name, 'test');
});

t.test('free text from children is scrubbed', async (t) => {
  const pem = '-----BEGIN OPENSSH ' + 'PRIVATE KEY-----\nAAAAB3NzaC1yc2E\n-----END OPENSSH ' + 'PRIVATE KEY-----';
  const s = scrubText(`key: ${pem} and conninfo host=a password=hunter2 user=b`);
  t.notMatch(s, /AAAAB3NzaC1yc2E|hunter2/);
  t.match(s, /\[redacted private key\]/);
  t.match(s, /password=\[redacted\]/);
});

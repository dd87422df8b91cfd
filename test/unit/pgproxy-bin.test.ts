import t from 'tap';
import { main } from '../../src/bin/pgproxy';

t.test('pgproxy lists every configuration error and exits 2', async (t) => {
  const chunks: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as unknown as { write: (s: string) => boolean }).write = (s: string) => { chunks.push(String(s)); return true; };
  let code: number;
  try {
    code = await main([], { PGSWARM_PEERS: 'bad-peer', PGSWARM_POLL_INTERVAL_MS: 'soon' }, async () => { throw new Error('must not enroll with a broken config'); });
  } finally {
    (process.stderr as unknown as { write: typeof orig }).write = orig;
  }
  t.equal(code, 2);
  const out = chunks.join('');
  for (const re of [/PGSWARM_PROXY_NAME: required/, /PGSWARM_CA_CERT_FILE: required/, /PGSWARM_AUTH_PASSWORD: required/, /PGSWARM_STATS_PASSWORD: required/, /"bad-peer" is not/, /PGSWARM_POLL_INTERVAL_MS: must be a whole number/, /needs a TLS certificate/]) t.match(out, re);
  t.match(out, /configuration error\(s\)/);
});

import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgClientConfig } from '../../src/adapters/pg-connect';

t.test('pgClientConfig pins search_path for PostgreSQL, not for the PgBouncer console', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-connect-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ca = path.join(dir, 'ca.crt');
  fs.writeFileSync(ca, 'CA');
  const base = { host: 'pgnode1', port: 5432, user: 'postgres', password: 'x', database: 'postgres', caFile: ca, timeoutMs: 1000 };
  t.equal(pgClientConfig(base).options, '-c search_path=pg_catalog,pg_temp', 'agent sessions: search_path pinned in the startup packet');
  t.equal(pgClientConfig({ ...base, adminConsole: true }).options, undefined, 'the console refuses startup parameters');
});

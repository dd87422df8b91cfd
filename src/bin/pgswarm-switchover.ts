#!/usr/bin/env node
import path from 'node:path';
import { Client } from 'pg';
import { parseNodeConfig } from '../core/node-config';
import { createLogger } from '../core/log';
import { loadSources, exitWithErrors } from '../adapters/load-sources';
import { childProcessRunner } from '../adapters/child-process-runner';
import { probePeer } from '../adapters/peer-probe';
import { pgClientConfig } from '../adapters/pg-connect';
import { askProxies } from '../adapters/proxy-primary';
import type { NodeConfig, Member } from '../core/node-config';
import { findPgBinDir } from '../runtime/node-context';

/**
 * Planned switchover, run on the standby that should become primary
 * (`pgswarm switchover --to NODE` runs it there with docker exec):
 *   1. put a hold row on the primary: every node's current-primary reports no
 *      primary, so the proxies PAUSE (in-flight transactions finish, new ones wait);
 *   2. wait until every proxy routes nowhere / is paused;
 *   3. `repmgr standby switchover --siblings-follow` (old primary stopped through
 *      our control socket, promoted here, old primary rejoins as a standby);
 *   4. lift the hold on the new primary: the proxies vote it in and RESUME.
 * Clients see a pause, not an error; nothing acknowledged is lost (the old
 * primary is shut down cleanly and this node has replayed everything first).
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(cfg: NodeConfig, m: Member): Promise<Client> {
  const c = new Client(pgClientConfig({ host: m.host, port: m.port, user: cfg.replUser, password: cfg.replPassword, database: 'postgres', caFile: cfg.caCertFile, timeoutMs: cfg.connectTimeoutSecs * 1000 }));
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const holdSecs = Number(argv[argv.indexOf('--hold-secs') + 1] || 0) || 60;
  const { sources, errors } = loadSources(argv);
  if (!sources) exitWithErrors('pgswarm-switchover', errors);
  const { config: cfg, errors: e2 } = parseNodeConfig(sources);
  if (!cfg) exitWithErrors('pgswarm-switchover', e2);
  const log = createLogger('pgswarm-switchover', { level: cfg.logLevel }).child({ node: cfg.nodeName });
  const creds = { user: cfg.replUser, password: cfg.replPassword, caFile: cfg.caCertFile, timeoutMs: cfg.connectTimeoutSecs * 1000 };
  const probes = await Promise.all(cfg.members.map((m) => probePeer(m, creds)));
  const me = probes.find((p) => p.name === cfg.nodeName);
  const primaries = probes.filter((p) => p.reachable && !p.inRecovery);
  if (!me || !me.reachable || !me.inRecovery) {
    process.stderr.write(`pgswarm-switchover: ${cfg.nodeName} is not a running standby; run this on the node that should become primary\n`);
    return 2;
  }
  if (primaries.length !== 1) {
    process.stderr.write(`pgswarm-switchover: expected exactly one running primary, found ${primaries.length}\n`);
    return 2;
  }
  const old = cfg.members.find((m) => m.name === primaries[0].name)!;
  const started = Date.now();
  log.info({ event: 'switchover-start', from: old.name, to: cfg.nodeName, reason: 'operator request' }, `planned switchover ${old.name} -> ${cfg.nodeName}: holding the proxies`);
  const pc = await connect(cfg, old);
  try {
    await pc.query(`INSERT INTO pgswarm.switchover (id, target, deadline) VALUES (1, $1, now() + make_interval(secs => $2))
                    ON CONFLICT (id) DO UPDATE SET target = EXCLUDED.target, started_at = now(), deadline = EXCLUDED.deadline`, [cfg.nodeName, holdSecs]);
  } finally {
    await pc.end();
  }
  const lift = async () => {
    for (const m of cfg.members) {
      try {
        const c = await connect(cfg, m);
        try {
          if ((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r === false) await c.query('DELETE FROM pgswarm.switchover');
        } finally {
          await c.end();
        }
      } catch {
        /* unreachable member */
      }
    }
  };
  // Wait for every proxy to stop routing (paused) before the old primary goes down.
  const deadline = Date.now() + 20000;
  for (;;) {
    const answers = await askProxies(cfg.proxies, { statsUser: cfg.statsUser, statsPassword: cfg.statsPassword, caFile: cfg.caCertFile, timeoutMs: 2000, members: cfg.members });
    const routing = answers.filter((a) => a.status === 'primary');
    if (routing.length === 0) break;
    if (Date.now() > deadline) {
      await lift();
      process.stderr.write(`pgswarm-switchover: proxies still routing after 20 s (${routing.map((a) => a.proxy).join(', ')}); switchover abandoned, nothing changed\n`);
      return 1;
    }
    await sleep(200);
  }
  log.info({ event: 'switchover-proxies-paused', ms: Date.now() - started }, 'every proxy paused; switching');
  const r = await childProcessRunner.run(cfg.repmgrBin || path.join(cfg.pgBinDir || findPgBinDir(), 'repmgr'), ['-f', path.join(cfg.home, 'conf', 'repmgr.conf'), 'standby', 'switchover', '--siblings-follow', '--verbose'], {
    user: cfg.runUser,
    env: { PATH: process.env.PATH, LANG: 'C.UTF-8', PGSSLMODE: 'verify-full', PGSSLROOTCERT: cfg.caCertFile, PGPASSFILE: path.join(cfg.home, 'secrets', 'pgpass') },
    timeoutMs: 300000,
  });
  await lift();
  const out = (r.stdout + r.stderr).trim();
  if (r.code !== 0) {
    log.error({ event: 'switchover-failed', exit: r.code, output: out.slice(-3000) }, 'repmgr standby switchover failed; hold lifted');
    process.stderr.write(`pgswarm-switchover: repmgr standby switchover failed:\n${out.slice(-3000)}\n`);
    return 1;
  }
  log.info({ event: 'switchover-done', from: old.name, to: cfg.nodeName, ms: Date.now() - started }, `switchover done in ${Date.now() - started} ms`);
  process.stdout.write(`switchover ${old.name} -> ${cfg.nodeName} done in ${Date.now() - started} ms\n`);
  return 0;
}

main().then((c) => process.exit(c), (e: Error) => {
  process.stderr.write(`pgswarm-switchover: ${e.message}\n`);
  process.exit(1);
});

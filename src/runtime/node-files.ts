import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeContext } from './node-context';
import { writeIfChanged } from './node-context';
import { renderPostgresqlConf, renderPgHba, renderPgpass } from '../core/render-postgres';
import { renderRepmgrConf } from '../core/render-repmgr';
import { ensureCertificate } from '../adapters/tls-issuer';
import { ensureRootDir, ensureOwnedDir } from '../adapters/atomic-file';

/**
 * The node's volume layout (PGSWARM_HOME), all outside PGDATA:
 *   data/ (PGDATA, postgres 0700)  conf/ (rendered config, root-owned dir)
 *   run/ (PostgreSQL socket, repmgrd pid; postgres 0700)  state/ (agent state, control socket; root 0755)
 *   secrets/ (passfile, repmgr password; root 0711, files postgres 0600)  tls/ (key postgres 0600, cert; root 0755)
 *   ssh/ (SSH keys)  setup-done.json (marker)
 */
export async function prepareFiles(ctx: NodeContext): Promise<void> {
  const { cfg, paths, owner } = ctx;
  // The volume root is root-owned: the postgres user must not be able to swap the root-owned dirs in it.
  fs.mkdirSync(paths.home, { recursive: true, mode: 0o755 });
  fs.chownSync(paths.home, 0, 0);
  fs.chmodSync(paths.home, 0o755);
  // Root writes only into root-owned directories (src/adapters/atomic-file.ts); the run user owns
  // only PGDATA and run/ (PostgreSQL's socket, repmgrd's pid file), where root writes nothing but
  // standby.signal (exclusive create + rename).
  for (const d of [paths.confDir, paths.stateDir]) ensureRootDir(d);
  ensureRootDir(paths.secretsDir, 0o711);
  for (const d of [paths.runDir, paths.pgdata]) ensureOwnedDir(d, owner, 0o700);
  // The container's own addresses too: the proxies route by address (PgBouncer's DNS cache can keep a
  // restarted task's old address), and verify-full then checks the address against the certificate.
  const addrs = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal && a.family === 'IPv4').map((a) => a!.address);
  const names = [...new Set([cfg.nodeName, cfg.self.host, 'localhost', '127.0.0.1', ...addrs])];
  const tls = await ensureCertificate({ dir: paths.tlsDir, name: cfg.nodeName, altNames: names, caCert: cfg.caCertFile, caKey: cfg.caKeyFile, owner });
  ctx.log.info({ event: 'tls', changed: tls.changed, names }, `TLS certificate: ${tls.reason}`);
  renderConfigFiles(ctx, tls);
}

export function renderConfigFiles(ctx: NodeContext, tls: { cert: string; key: string }): void {
  const { cfg, paths, owner } = ctx;
  const node = process.execPath;
  const changed: string[] = [];
  const w = (name: string, content: string, mode = 0o644, own?: { uid: number; gid: number }) => {
    if (writeIfChanged(path.join(paths.confDir, name), content, mode, own)) changed.push(name);
  };
  w('postgresql.conf', renderPostgresqlConf({
    pgdata: paths.pgdata,
    confDir: paths.confDir,
    runDir: paths.runDir,
    listenAddresses: cfg.listenAddresses,
    port: cfg.self.port,
    tlsCert: tls.cert,
    tlsKey: tls.key,
    caCert: cfg.caCertFile,
  }));
  w('pg_hba.conf', renderPgHba({ replUser: cfg.replUser, superuser: cfg.superuser }));
  w('pg_ident.conf', '# pgswarm: no ident maps\n');
  const ctl = (verb: string) => `${ctx.selfCmd('pgswarm-ctl')} --socket ${paths.ctlSocket} ${verb}`;
  w('repmgr.conf', renderRepmgrConf({
    nodeId: cfg.nodeId,
    node: cfg.self,
    replUser: cfg.replUser,
    pgdata: paths.pgdata,
    pgBinDir: ctx.pgBinDir,
    confDir: paths.confDir,
    runDir: paths.runDir,
    caCert: cfg.caCertFile,
    passfile: paths.pgpass,
    connectTimeoutSecs: cfg.connectTimeoutSecs,
    monitorIntervalSecs: cfg.monitorIntervalSecs,
    reconnectAttempts: cfg.reconnectAttempts,
    reconnectIntervalSecs: cfg.reconnectIntervalSecs,
    promoteCommand: `${ctx.selfCmd('pgnode-hook')} --socket ${paths.ctlSocket} --repmgr ${ctx.repmgrBin} promote`,
    followCommand: `${ctx.selfCmd('pgnode-hook')} --socket ${paths.ctlSocket} --repmgr ${ctx.repmgrBin} follow %n`,
    serviceCommand: (v) => ctl(v),
    failoverValidationCommand: `${ctx.selfCmd('pgnode-validate')} --config ${paths.confDir}/validate.json`,
    sshOptions: `-q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${paths.sshDir}/known_hosts -o IdentitiesOnly=yes -i ${paths.sshDir}/id_ed25519 -p ${cfg.self.sshPort} -o ConnectTimeout=${cfg.connectTimeoutSecs}`,
  }), 0o644);
  // Secrets for the run user's tools: a libpq passfile and the repmgr password for current-primary.
  if (writeIfChanged(paths.pgpass, renderPgpass([
    { host: '*', port: '*', database: '*', user: cfg.replUser, password: cfg.replPassword },
    { host: '*', port: '*', database: '*', user: cfg.superuser, password: cfg.superuserPassword },
  ]), 0o600, owner)) changed.push('pgpass');
  writeIfChanged(path.join(paths.secretsDir, 'repmgr.password'), cfg.replPassword + '\n', 0o600, owner);
  w('current-primary.json', JSON.stringify({
    PGSWARM_NODE_NAME: cfg.nodeName,
    PGSWARM_PEERS: cfg.members.map((m) => `${m.name}@${m.host}:${m.port}:${m.sshPort}`).join(','),
    PGSWARM_REPMGR_USER: cfg.replUser,
    PGSWARM_REPMGR_PASSWORD_FILE: path.join(paths.secretsDir, 'repmgr.password'),
    PGSWARM_CA_CERT_FILE: cfg.caCertFile,
    PGSWARM_CONNECT_TIMEOUT_SECS: String(cfg.connectTimeoutSecs),
  }, null, 2) + '\n');
  ctx.log.info({ event: 'config-rendered', changed }, changed.length ? `rendered ${changed.join(', ')}` : 'configuration unchanged');
  void node;
}

#!/usr/bin/env node
/**
 * pgproxy: PgBouncer plus the agent that keeps it pointed at the primary.
 * Thin: parse the configuration (every error listed, exit 2), enroll (hook),
 * build the SSH follower (one streaming session per node), run the agent,
 * forward SIGTERM/SIGINT.
 */
import { enrollProxyIdentity } from '../adapters/proxy-enroll';
import fs from 'node:fs';
import { configPathFromArgv, describeSettings } from '../core/settings';
import { parseProxyConfig, PROXY_SETTINGS, ProxyConfig } from '../core/proxy-config';
import { createLogger, Logger } from '../core/log';
import { ProxyAgent } from '../runtime/proxy-agent';
import { SshFollower } from '../adapters/ssh-follow';
import type { KnownHostEntry } from '../core/host-verifier';

/**
 * Enrollment hook (wired by the lead once the SSH identity code lands):
 * generate/reuse the proxy's SSH key in its home, enroll it with the join
 * token, and return the private key and a live known_hosts provider built
 * from the verified registry rows.
 */
export type EnrollProxy = (c: ProxyConfig, log: Logger) => Promise<{
  privateKey: Buffer | string;
  knownHosts: () => readonly KnownHostEntry[];
  /** Client-facing certificate issued by a node from the proxy's CSR (when the operator gave none). */
  tls?: { cert: string; key: string };
  onCertificateRenewed?: (fn: () => Promise<void> | void) => void;
}>;

export const enrollProxy: EnrollProxy = async (c, log) => enrollProxyIdentity(c, log);

export async function main(argv = process.argv.slice(2), env = process.env, enroll: EnrollProxy = enrollProxy): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`pgproxy [--config FILE]\n\nSettings (environment, *_FILE secrets, or the JSON config file):\n${describeSettings(PROXY_SETTINGS)}\n`);
    return 0;
  }
  const cp = configPathFromArgv(argv);
  const errors: string[] = [];
  let file: Record<string, unknown> | undefined;
  if (cp.error) errors.push(cp.error);
  if (cp.path) {
    try {
      file = JSON.parse(fs.readFileSync(cp.path, 'utf8'));
    } catch (e) {
      errors.push(`--config ${cp.path}: ${(e as Error).message}`);
    }
  }
  const parsed = parseProxyConfig({ env, file, readFile: (p) => fs.readFileSync(p, 'utf8') });
  errors.push(...parsed.errors);
  if (errors.length || !parsed.config) {
    process.stderr.write(`pgproxy: ${errors.length} configuration error(s):\n${errors.map((e) => `  - ${e}`).join('\n')}\n`);
    return 2;
  }
  const c = parsed.config;
  const log = createLogger('pgproxy', { level: c.logLevel });
  log.info({ event: 'start', proxy: c.proxyName, members: c.members.map((m) => m.name), pollIntervalMs: c.pollIntervalMs }, 'pgproxy starting');
  let follower: SshFollower;
  let config = c;
  let onRenewed: ((fn: () => Promise<void> | void) => void) | undefined;
  // Nodes send a heartbeat every second: a node silent this long is dropped and reconnected.
  const heartbeatTimeoutMs = followTimeoutMs(c);
  try {
    const id = await enroll(c, log);
    if (id.tls) config = { ...c, tlsCertFile: id.tls.cert, tlsKeyFile: id.tls.key };
    onRenewed = id.onCertificateRenewed;
    follower = new SshFollower({
      user: c.sshUser, privateKey: id.privateKey, knownHosts: id.knownHosts,
      connectTimeoutMs: c.sshTimeoutMs, heartbeatTimeoutMs, legacyPollMs: c.pollIntervalMs, logger: log,
    });
  } catch (e) {
    log.fatal({ event: 'enroll-failed', err: (e as Error).message }, `cannot enroll: ${(e as Error).message}`);
    return 1;
  }
  const agent = new ProxyAgent({
    config, logger: log,
    watchNode: (m, push) => follower.watch(m, push),
    // The follower's watchdog decides silence (it does not blame a node for our own starvation,
    // up to 3× its deadline); the agent's staleness is only the backstop beyond that.
    staleMs: 3 * heartbeatTimeoutMs + c.pollIntervalMs,
  });
  let stopping: Promise<void> | undefined;
  const stop = (sig: NodeJS.Signals) => {
    stopping ??= agent.stop(sig).then(() => follower.close());
    return stopping;
  };
  const done = new Promise<number>((resolve) => {
    process.on('SIGTERM', () => void stop('SIGTERM').then(() => resolve(0)));
    process.on('SIGINT', () => void stop('SIGINT').then(() => resolve(0)));
  });
  await agent.start();
  onRenewed?.(() => agent.reloadTls());
  return done;
}

/** How long a node's stream may be silent (heartbeats come every second): the SSH timeout + 1 s, at least 2.5 s. */
export function followTimeoutMs(c: Pick<ProxyConfig, 'sshTimeoutMs'>): number {
  return Math.max(2500, c.sshTimeoutMs + 1000);
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e) => {
    process.stderr.write(`pgproxy: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}

import { lookupUserOrNull } from '../adapters/os-users';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { NodeContext } from './node-context';
import type { NodeExtras } from './node-agent';
import { writeIfChanged, repmgrTarget, probeCreds } from './node-context';
import { sshdConfig } from '../core/render-ssh';
import { ensureKeyPair } from '../adapters/ssh-keys';
import { AtomicFileWriter } from '../adapters/atomic-file';
import { PgRegistryStore, applyRegistrySchema } from '../adapters/registry-store';
import { syncKeys, KeySyncState, SelfKeys } from './key-sync';
import { proxyCertificateIssuer } from './proxy-certificates';
import { tokenGateKey } from '../core/join-token';
import { signingKeyId } from '../core/signing';
import type { PgTarget } from '../adapters/pg-connect';
import { probePeer } from '../adapters/peer-probe';
import { childProcessRunner } from '../adapters/child-process-runner';
import { probeCurrentPrimary, answerMemory, AnswerMemory } from '../adapters/current-primary-probe';
import { loopLag } from '../adapters/loop-lag';
import { readThrottledMs } from '../adapters/cpu-throttle';
import { judgeLocalLoad } from '../core/local-load';
import { throttledShare } from '../core/cpu-throttle';
import { formatCurrentPrimary, CurrentPrimary } from '../core/current-primary';
import { renderAnswerRelay } from '../core/answer-relay';
import { parseGenerations, serializeGenerations } from '../core/row-lifecycle';
import { AnswerServer } from './answer-server';
import { zeroLossExtras, composeExtras } from './zero-loss';

/**
 * The SSH side of a node: its own host and client keys (generated here, never
 * leaving the volume), a hardened sshd under the supervisor, and the key-sync
 * loop that publishes this node's public keys as signed rows, countersigns
 * enrolled proxy keys, and renders authorized_keys / known_hosts from rows
 * whose signature verifies. Enabled when PGSWARM_VERIFY_KEY is set.
 */
export function sshPaths(ctx: NodeContext) {
  const d = ctx.paths.sshDir;
  return {
    dir: d,
    hostKey: path.join(d, 'ssh_host_ed25519_key'),
    clientKey: path.join(d, 'id_ed25519'),
    authorizedKeys: path.join(d, 'authorized_keys'),
    /** The proxies' keys: the answer account's own file (docs/security.md, "Who runs what"). */
    answerKeys: path.join(d, 'answer_keys'),
    knownHosts: path.join(d, 'known_hosts'),
    sshdConfig: path.join(d, 'sshd_config'),
    /** The key sync's memory of registry generations (docs/security.md, "Registry rows: expiry and revocation"). */
    generations: path.join(d, 'registry-generations.json'),
    pidFile: path.join(ctx.paths.stateDir, 'sshd.pid'),
  };
}

/** Where the agent serves its answer, and the relay the proxies' keys are forced to run: a root-owned directory. */
export function answerPaths(ctx: NodeContext) {
  const dir = path.join(ctx.cfg.home, 'answer');
  return { dir, socket: path.join(dir, 'answer.sock'), relay: path.join(dir, 'current-primary-relay') };
}

/** The forced command for proxy keys: absolute path, fixed arguments, nothing from the caller. */
export function currentPrimaryCommand(ctx: NodeContext): string {
  return `/usr/bin/perl ${answerPaths(ctx).relay}`;
}

/** How often the answer is recomputed (each member probed on its open session) and pushed to the relays. */
export const ANSWER_REFRESH_MS = 500;
/** Per-member deadline of one answer round's probe. */
export const ANSWER_PROBE_TIMEOUT_MS = 800;

/**
 * Keeps this node's current-primary answer fresh: twice a second every member is probed on its
 * persistent session and the answer is pushed to the connected relays (the whole answer when it
 * changed, a heartbeat otherwise). Nothing is written to disk.
 */
function startAnswerLoop(ctx: NodeContext, server: AnswerServer, compute: () => Promise<CurrentPrimary>): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const tick = async () => {
    try {
      const r = { ...(await compute()), witness: ctx.cfg.witness?.name ?? null };
      server.publish(formatCurrentPrimary(r));
      if ((r.primary ?? '') !== last) ctx.log.info({ event: 'current-primary', primary: r.primary, reason: r.reason }, `current primary: ${r.primary ?? 'none'} (${r.reason})`);
      last = r.primary ?? '';
    } catch (e) {
      ctx.log.warn({ event: 'current-primary-failed', err: (e as Error).message }, 'could not compute the current primary');
    }
  };
  const loop = () => {
    if (stopped) return;
    const started = Date.now();
    void tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, Math.max(0, ANSWER_REFRESH_MS - (Date.now() - started)));
    });
  };
  loop();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/**
 * The answer loop's memory: last good views, and whether a round was starved (this agent's timers
 * late or its cgroup throttled). A member that only timed out on a starved round keeps its last
 * good view for a while instead of being called unreachable (core/local-load.ts).
 */
export function answerMemoryFor(ctx: NodeContext): AnswerMemory {
  const lag = loopLag();
  let throttled = { at: Date.now(), ms: readThrottledMs() };
  let lastLog = 0;
  return answerMemory(
    (since) => {
      const now = Date.now();
      const ms = readThrottledMs();
      const share = throttledShare(throttled.ms, ms, now - Math.min(since, throttled.at));
      throttled = { at: now, ms };
      return judgeLocalLoad({ loopLagMs: lag.maxSince(since), throttledShare: share });
    },
    (member, reason) => {
      if (Date.now() - lastLog < 5000) return;
      lastLog = Date.now();
      ctx.log.warn({ event: 'answer-starved', member }, `${member}: ${reason}`);
    },
  );
}

/**
 * The account the proxies' keys log in as (PGSWARM_ANSWER_USER): a system account of its own, so the
 * PostgreSQL OS user cannot signal, trace or feed the relay it runs. The image creates it; on a host
 * without it (loopback tests) the agent creates it.
 */
async function ensureAnswerAccount(ctx: NodeContext): Promise<void> {
  if (lookupUserOrNull(ctx.cfg.answerUser)) return;
  const r = await ctx.runner.run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/', '--shell', '/bin/sh', ctx.cfg.answerUser]);
  ctx.log.info({ event: 'answer-account', user: ctx.cfg.answerUser, ok: r.code === 0 }, r.code === 0 ? `created the system account ${ctx.cfg.answerUser} for the proxies' restricted keys` : `could not create ${ctx.cfg.answerUser}: ${r.stderr.trim()}`);
}

async function unlockAccount(ctx: NodeContext, user: string): Promise<void> {
  // sshd with UsePAM no refuses accounts whose password field is locked ("!"), even for keys.
  // "*" means no password can ever match, and lets key authentication through.
  try {
    const line = fs.readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
    if (line && line.split(':')[1].startsWith('!')) {
      const r = await ctx.runner.run('usermod', ['-p', '*', user]);
      ctx.log.info({ event: 'ssh-account', user, ok: r.code === 0 }, 'set the ssh account\'s password field to "*" (no password login possible) so sshd accepts its keys');
    }
  } catch {
    /* not root or no shadow file */
  }
}

/** The key sync's own session to the writable primary (probed on the shared sessions), preferring this node. */
async function connectPrimary(ctx: NodeContext): Promise<{ c: Client; target: PgTarget } | null> {
  // Data members only (a witness's own server is never the primary), this node first.
  const order = [...ctx.cfg.members.filter((m) => m.name === ctx.cfg.nodeName), ...ctx.cfg.members.filter((m) => m.name !== ctx.cfg.nodeName)];
  for (const m of order) {
    const p = await probePeer(m, probeCreds(ctx));
    if (p.reachable && !p.inRecovery) {
      const target = repmgrTarget(ctx, m, m.port, 'postgres');
      return { c: await ctx.sessions.client(target, 'key-sync'), target };
    }
  }
  return null;
}

/** Every layer's hooks: SSH identity first (sshd must run before peers ask), then zero-loss. */
export function nodeExtras(ctx: NodeContext): NodeExtras {
  return composeExtras(sshExtras(ctx), zeroLossExtras(ctx));
}

export interface SshExtrasOptions {
  /** This node's answer to the proxies [default: current-primary over the data members]. */
  answer?: () => Promise<CurrentPrimary>;
  /** Publish a client key too (data nodes: repmgr over SSH); a witness publishes only its host key. */
  clientKey?: boolean;
  /** Create/upgrade the registry schema on the primary (data nodes only). */
  applySchema?: boolean;
}

/** Restores the key sync's memory of generations from the node's volume (an unreadable file is logged and ignored). */
function loadGenerations(ctx: NodeContext, file: string, state: KeySyncState): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return; // first start
  }
  const g = parseGenerations(text);
  if (!g) {
    ctx.log.warn({ event: 'registry-generations-unreadable', file }, 'ignoring an unreadable registry generations file; starting with an empty memory');
    return;
  }
  for (const [k, v] of g) state.generations.set(k, v);
  ctx.log.info({ event: 'registry-generations-loaded', entries: g.size }, 'registry generations restored');
}

export function sshExtras(ctx: NodeContext, opts: SshExtrasOptions = {}): NodeExtras {
  const { cfg } = ctx;
  const withClientKey = opts.clientKey ?? true;
  const answerCreds = probeCreds(ctx, ANSWER_PROBE_TIMEOUT_MS);
  const memory = answerMemoryFor(ctx);
  const answer = opts.answer ?? (() => probeCurrentPrimary(cfg.nodeName, cfg.members, answerCreds, memory));
  if (!cfg.verifyKey) {
    ctx.log.warn({ event: 'ssh-disabled' }, 'PGSWARM_VERIFY_KEY not set: sshd, the key registry and proxy enrollment are off');
    return {};
  }
  const sp = sshPaths(ctx);
  let self: SelfKeys | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const state = new KeySyncState();
  let schemaApplied = false;
  const files = new AtomicFileWriter();
  let stopAnswers: (() => void) | undefined;
  let answers: AnswerServer | undefined;

  // Proxies' client-facing certificates: signed here (this node has the CA key), never on the proxy.
  const reserved = [...cfg.members.flatMap((m) => [m.name, m.host]), ...(cfg.witness ? [cfg.witness.name, cfg.witness.host] : []), cfg.nodeName];
  const issueProxyCertificate = proxyCertificateIssuer({ caCert: cfg.caCertFile, caKey: cfg.caKeyFile, reservedNames: reserved, extraNames: cfg.proxyCertNames });
  const tick = async () => {
    const p = await connectPrimary(ctx).catch(() => null);
    if (!p) return;
    const { c } = p;
    try {
      if (!schemaApplied && (opts.applySchema ?? true)) {
        await applyRegistrySchema(c, {
          enrollPassword: cfg.enrollPassword, agentRoles: [],
          signingKeyId: signingKeyId(cfg.verifyKey!),
          // only a node with the signing key can derive the gate key; without it the gate stays as it is
          ...(cfg.signingKey ? { gateKey: tokenGateKey(cfg.signingKey) } : {}),
        });
        schemaApplied = true;
      }
      await syncKeys({
        store: new PgRegistryStore(c),
        files,
        clock: () => new Date(),
        log: ctx.log,
        verifyKey: cfg.verifyKey!,
        signingKey: cfg.signingKey,
        self,
        authorizedKeysPath: sp.authorizedKeys,
        answerKeysPath: sp.answerKeys,
        knownHostsPath: sp.knownHosts,
        authorizedKeysOwner: { uid: 0, gid: 0 },
        knownHostsOwner: { uid: 0, gid: 0 },
        currentPrimaryCommand: currentPrimaryCommand(ctx),
        nodeName: cfg.nodeName,
        issueProxyCertificate,
        rowTtlSeconds: cfg.registryRowTtlMs / 1000,
      }, state);
      writeIfChanged(sp.generations, serializeGenerations(state.generations), 0o644, { uid: 0, gid: 0 });
    } catch (e) {
      // A failed statement may leave a transaction open: the next tick starts on a new session.
      ctx.sessions.reset(p.target, 'key-sync', (e as Error).message);
      throw e;
    }
  };
  const loop = () => {
    if (stopped) return;
    tick()
      .catch((e: Error) => ctx.log.error({ event: 'key-sync-failed', err: e.message }, `key sync failed: ${e.message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, cfg.keySyncIntervalMs);
      });
  };

  return {
    beforeDecide: async () => {
      const ap = answerPaths(ctx);
      await ensureAnswerAccount(ctx);
      answers = new AnswerServer(ap.socket, ctx.log, lookupUserOrNull(cfg.answerUser)?.gid);
      await answers.start();
      writeIfChanged(ap.relay, renderAnswerRelay(ap.socket, cfg.nodeName), 0o755, { uid: 0, gid: 0 });
      stopAnswers = startAnswerLoop(ctx, answers, answer);
      // The ssh dir is root-owned: the postgres user can read its client key but cannot add keys or rewrite known_hosts.
      fs.mkdirSync(sp.dir, { recursive: true, mode: 0o755 });
      fs.chownSync(sp.dir, 0, 0);
      fs.chmodSync(sp.dir, 0o755);
      const host = await ensureKeyPair(sp.hostKey, { uid: 0, gid: 0, comment: `${cfg.nodeName} host` });
      const client = withClientKey ? await ensureKeyPair(sp.clientKey, { uid: ctx.owner.uid, gid: ctx.owner.gid, comment: `${cfg.nodeName} client` }) : null;
      ctx.log.info({ event: 'ssh-keys', hostKey: host.fingerprint, clientKey: client?.fingerprint ?? null, created: host.created || !!client?.created }, 'SSH keys ready (generated in this node\'s volume; only public halves are published)');
      self = { name: cfg.nodeName, host: cfg.self.host, sshPort: cfg.self.sshPort, aliases: [cfg.nodeName].filter((a) => a !== cfg.self.host), hostPublicKey: host.publicKeyLine, clientPublicKey: client?.publicKeyLine };
      for (const f of [sp.authorizedKeys, sp.answerKeys, sp.knownHosts]) if (!fs.existsSync(f)) writeIfChanged(f, '', 0o644, { uid: 0, gid: 0 });
      loadGenerations(ctx, sp.generations, state);
      writeIfChanged(sp.sshdConfig, sshdConfig({
        port: cfg.self.sshPort,
        listenAddress: cfg.listenAddresses === '*' ? '0.0.0.0' : cfg.listenAddresses.split(',')[0].trim(),
        hostKeyFile: sp.hostKey,
        authorizedKeysFile: sp.authorizedKeys,
        allowUser: cfg.sshUser,
        answer: { user: cfg.answerUser, authorizedKeysFile: sp.answerKeys, command: currentPrimaryCommand(ctx) },
        pidFile: sp.pidFile,
      }), 0o644, { uid: 0, gid: 0 });
      fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      await unlockAccount(ctx, cfg.sshUser);
      await unlockAccount(ctx, cfg.answerUser);
      ctx.sup.start({ name: 'sshd', cmd: cfg.sshdBin, args: ['-D', '-e', '-f', sp.sshdConfig], restart: 'always', stopSignal: 'SIGTERM', stopTimeoutMs: 2000 });
      loop();
    },
    onStop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stopAnswers?.();
      await answers?.close();
    },
  };
}

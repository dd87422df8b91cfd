import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { NodeContext } from './node-context';
import type { NodeExtras } from './node-agent';
import { writeIfChanged, repmgr, superuserTarget, repmgrTarget, probeCreds } from './node-context';
import { nodeIdOf } from './node-actions';
import { pgClientConfig, closeClient } from '../adapters/pg-connect';
import { readLocalReplication, probePeerLsn, REPLICATION_SQL, toReplicationRows, LocalReplication } from '../adapters/replication-probe';
import { probePeer } from '../adapters/peer-probe';
import { askProxies } from '../adapters/proxy-primary';
import { decideSyncStandbys, standbySyncNames, SyncDecision } from '../core/sync-standbys';
import { recordStandbyTick, parseHistory, StandbyHistory } from '../core/standby-history';
import { decideFence, quorum } from '../core/fencing';
import { throttledShare } from '../core/cpu-throttle';
import { readThrottledMs } from '../adapters/cpu-throttle';
import { loopLag } from '../adapters/loop-lag';
import type { Member } from '../core/node-config';

/**
 * The zero-loss side of a node (docs/zero-loss.md), one loop every
 * PGSWARM_SYNC_INTERVAL_MS:
 *  - on the primary: keeps synchronous_standby_names current (ALTER SYSTEM +
 *    pg_reload_conf, only on change, each change logged with its reason), and
 *    fences itself (stops PostgreSQL through the supervisor) when it loses the
 *    majority for PGSWARM_FENCE_AFTER_MS or sees a newer primary;
 *  - on a standby: records "streaming / synchronous at T with LSN L" in
 *    state/standby-history.json for the promotion guard, keeps the synchronous
 *    setting it will need the moment it is promoted, and follows a newly
 *    promoted primary at once instead of waiting for repmgrd's polling
 *    (field notes pitfall 5).
 */
export function historyPath(ctx: NodeContext): string {
  return path.join(ctx.paths.stateDir, 'standby-history.json');
}

export function zeroLossPaths(ctx: NodeContext) {
  return {
    history: historyPath(ctx),
    syncStatus: path.join(ctx.paths.stateDir, 'sync-status.json'),
    fence: path.join(ctx.paths.stateDir, 'fence.json'),
    streamedOn: path.join(ctx.paths.stateDir, 'primary-streamed.json'),
    validateConf: path.join(ctx.paths.confDir, 'validate.json'),
  };
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * A primary that has not reached a majority since it became primary (a brand-new cluster's first node, whose
 * peers and proxies cannot reach it until Swarm lists it as healthy and they have cloned from it) starts the
 * lost-majority clock only after this long, like the stack's health start_period. Without it the bootstrap
 * primary fenced itself 6 s after start, again after every restart, and the cluster never formed (seen on a
 * loaded one-node swarm). Once it has reached a majority, PGSWARM_FENCE_AFTER_MS applies as before.
 */
export const FENCE_START_GRACE_MS = 120000;

/** The lost-majority clock of a primary (pure): when the majority was lost (null: not lost, or not armed yet), and whether it was reached since the node became primary. */
export function majorityClock(i: { majority: boolean; since: number | null; seen: boolean; primarySince: number; now: number }): { since: number | null; seen: boolean } {
  if (i.majority) return { since: null, seen: true };
  if (i.seen || i.now - i.primarySince >= FENCE_START_GRACE_MS) return { since: i.since ?? i.now, seen: i.seen };
  return { since: null, seen: false };
}

/**
 * The standby history on disk may lag its timestamps by this much (the guard allows 15 s,
 * PGSWARM_PROMOTE_FRESH_MS); anything else in it is written the moment it changes. Before, it was
 * rewritten on every 500 ms tick.
 */
export const HISTORY_REFRESH_MS = 3000;

/** The history without its clocks (a timestamp only as "set or not"): a change here is written at once. */
export function historyShape(h: StandbyHistory): string {
  return JSON.stringify({ ...h, streamingAt: h.streamingAt !== null, syncAt: h.syncAt !== null, observedAt: h.observedAt !== null, receivedLsn: null });
}

export function zeroLossExtras(ctx: NodeContext): NodeExtras {
  const { cfg, log } = ctx;
  const zp = zeroLossPaths(ctx);
  const others = cfg.members.filter((m) => m.name !== cfg.nodeName);
  const creds = probeCreds(ctx);
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let local: Client | null = null;
  let upstream: { key: string; c: Client } | null = null;
  // primary side
  let noHealthySince: number | null = null;
  let lastApplied: { names: string; at: number } | null = null;
  let lastDecision: SyncDecision | null = null;
  let majorityLostSince: number | null = null;
  /** When this node last became primary, and whether it has reached a majority since (the lost-majority clock is armed). */
  let primarySince = 0;
  let majoritySeen = false;
  let fenced: null | { rule: string; since: number } = null;
  let probing = false;
  let lastStarvedLog = 0;
  let wasPrimary = false;
  /** The timeline on which a standby was last seen streaming from this node as primary (persisted: survives a restart). */
  let streamedOnTl = readStreamedOn();
  // standby side
  let history: StandbyHistory | null = null;
  let historyWritten = { shape: '', at: 0 };
  let lastFollowAt = 0;
  let lastFollowCheck = 0;
  let following = false;
  /** The timeline this standby last streamed on (pg_control_checkpoint's can be stale on a standby). */
  let streamTl = 0;
  /** Since when a promotion guard has kept this standby detached (primary_conninfo emptied). */
  let detachedSince: number | null = null;
  /** The newest timeline this standby has seen any member run as primary on: it never re-attaches to an older one. */
  let seenPrimaryTl = 0;
  let lastHoldLog = 0;

  function readStreamedOn(): number {
    try {
      return Number(JSON.parse(fs.readFileSync(zp.streamedOn, 'utf8')).timeline) || 0;
    } catch {
      return 0;
    }
  }
  /** The synchronous_standby_names this standby last reported in sync-status.json (null: not yet, in this standby life). */
  let standbyStatusFor: string | null = null;

  const readHistory = () => {
    try {
      return parseHistory(fs.readFileSync(zp.history, 'utf8'));
    } catch {
      return null;
    }
  };

  const closeLocal = async () => {
    const c = local;
    local = null;
    await closeClient(c);
  };

  const localClient = async (): Promise<Client> => {
    if (local) return local;
    const c = new Client(pgClientConfig({ ...superuserTarget(ctx, cfg.self.port), timeoutMs: 2000 }));
    c.on('error', () => {
      if (local === c) local = null;
    });
    await c.connect();
    local = c;
    return c;
  };

  const memberAt = (host: string | null, port: number | null): Member | undefined => (host ? cfg.members.find((m) => m.host === host && (port === null || m.port === port)) : undefined);

  // ---- primary: synchronous_standby_names
  const keepSyncNames = async (c: Client, l: LocalReplication, now: number) => {
    const probe = decideSyncStandbys({ mode: cfg.syncMode, others: others.map((m) => m.name), replication: l.replication, noHealthyForMs: 0, degradeAfterMs: cfg.degradeAfterMs });
    if (probe.healthy.length) noHealthySince = null;
    else noHealthySince ??= now;
    const d = decideSyncStandbys({ mode: cfg.syncMode, others: others.map((m) => m.name), replication: l.replication, noHealthyForMs: noHealthySince === null ? 0 : now - noHealthySince, degradeAfterMs: cfg.degradeAfterMs });
    if (!lastDecision || lastDecision.rule !== d.rule || lastDecision.synchronousStandbyNames !== d.synchronousStandbyNames) {
      const level = d.degraded ? 'error' : d.rule === 'strict-waiting' || d.rule === 'degrade-waiting' ? 'warn' : 'info';
      log[level]({ event: d.degraded ? 'sync-degraded' : 'sync-policy', mode: cfg.syncMode, rule: d.rule, names: d.synchronousStandbyNames, healthy: d.healthy, degraded: d.degraded }, d.reason);
      writeIfChanged(zp.syncStatus, JSON.stringify({ node: cfg.nodeName, role: 'primary', mode: cfg.syncMode, names: d.synchronousStandbyNames, degraded: d.degraded, rule: d.rule, reason: d.reason, healthy: d.healthy, since: new Date(now).toISOString() }) + '\n', 0o644);
      lastDecision = d;
    }
    if (d.synchronousStandbyNames === l.synchronousStandbyNames) return;
    if (lastApplied && lastApplied.names === d.synchronousStandbyNames && now - lastApplied.at < 3000) return; // reload still under way
    await c.query(`ALTER SYSTEM SET synchronous_standby_names = ${lit(d.synchronousStandbyNames)}`);
    await c.query('SELECT pg_reload_conf()');
    lastApplied = { names: d.synchronousStandbyNames, at: now };
    log.info({ event: 'sync-standbys-changed', from: l.synchronousStandbyNames, to: d.synchronousStandbyNames, rule: d.rule }, `synchronous_standby_names '${l.synchronousStandbyNames}' -> '${d.synchronousStandbyNames}': ${d.reason}`);
  };

  // ---- primary: fencing
  const reachability = async () => {
    const [peers, wit, proxies] = await Promise.all([
      Promise.all(others.map((m) => probePeer(m, creds))),
      cfg.witness ? probePeer(cfg.witness, creds) : Promise.resolve(null),
      askProxies(cfg.proxies, { statsUser: cfg.statsUser, statsPassword: cfg.statsPassword, caFile: cfg.caCertFile, timeoutMs: creds.timeoutMs, members: cfg.members, sessions: ctx.sessions }),
    ]);
    return {
      peers,
      counts: {
        dataMembers: cfg.members.length,
        witnesses: cfg.witness ? 1 : 0,
        proxies: cfg.proxies.length,
        reachablePeers: peers.filter((p) => p.reachable).length,
        reachableWitnesses: wit && wit.reachable ? 1 : 0,
        reachableProxies: proxies.filter((p) => p.status !== 'unreachable').length,
      },
    };
  };

  const fence = async (rule: string, reason: string, details: Record<string, unknown>) => {
    fenced = { rule, since: Date.now() };
    log.error({ event: 'fenced', rule, ...details }, `FENCING: ${reason}`);
    writeIfChanged(zp.fence, JSON.stringify({ node: cfg.nodeName, fenced: true, rule, reason, at: new Date().toISOString() }) + '\n', 0o644);
    // Survives a restart: started again without a majority, this node must not start as primary on its own.
    if (rule === 'majority-lost') writeIfChanged(ctx.paths.fencedAlone, JSON.stringify({ node: cfg.nodeName, rule, at: new Date().toISOString() }) + '\n', 0o644);
    await closeLocal();
    // Through the supervisor: a fast shutdown ends every session; no client can undo it.
    await ctx.sup.stop('repmgrd');
    await ctx.sup.stop('postgres');
    log.error({ event: 'fenced-stopped', rule }, 'PostgreSQL stopped: this node accepts no writes');
    if (rule === 'newer-primary') unfence('the cluster has a newer primary: deciding the role again (rejoin by rewind)');
  };

  const unfence = (why: string) => {
    fenced = null;
    majorityLostSince = null;
    wasPrimary = false;
    writeIfChanged(zp.fence, JSON.stringify({ node: cfg.nodeName, fenced: false, reason: why, at: new Date().toISOString() }) + '\n', 0o644);
    log.warn({ event: 'unfenced' }, why);
    // Hand the node back to the agent, which observes the cluster and decides (start, rejoin, wait).
    ctx.onPostgresCrash(null, 'fenced');
  };

  const checkFence = async (l: LocalReplication | null) => {
    if (probing) return;
    probing = true;
    try {
      const started = Date.now();
      const throttledBefore = readThrottledMs();
      const lag = loopLag();
      const r = await reachability();
      const now = Date.now();
      const starved = throttledShare(throttledBefore, readThrottledMs(), now - started);
      const q = quorum(r.counts);
      if (fenced) {
        if (q.majority) unfence(`majority reachable again (${q.reachable} of ${q.total}): deciding the role again`);
        return;
      }
      if (!l || !ctx.sup.isRunning('postgres')) return;
      ({ since: majorityLostSince, seen: majoritySeen } = majorityClock({ majority: q.majority, since: majorityLostSince, seen: majoritySeen, primarySince, now }));
      const newer = r.peers.find((p) => p.reachable && !p.inRecovery && p.timeline > l.timeline);
      const d = decideFence({ ...r.counts, majorityLostForMs: majorityLostSince === null ? 0 : now - majorityLostSince, fenceAfterMs: cfg.fenceAfterMs, newerPrimary: newer ? newer.name : null, successorPossible: streamedOnTl >= l.timeline, throttledShare: starved, loopLagMs: lag.maxSince(started) });
      // Once per lost-majority episode (the clock only runs once armed: start grace and successor rules).
      if (d.rule === 'grace' && majorityLostSince !== null && now - majorityLostSince < cfg.syncIntervalMs * 2) log.warn({ event: 'majority-lost', reachable: d.reachable, total: d.total, need: d.need }, d.reason);
      if (d.rule === 'starved' && now - lastStarvedLog > 5000) {
        lastStarvedLog = now;
        log.warn({ event: 'fence-starved', throttledShare: starved, reachable: d.reachable, total: d.total }, d.reason);
      }
      if (d.fence) await fence(d.rule, d.reason, { reachable: d.reachable, total: d.total, need: d.need });
    } finally {
      probing = false;
    }
  };

  // ---- standby: history and fast follow
  const primaryView = async (l: LocalReplication) => {
    const up = memberAt(l.senderHost, l.senderPort);
    if (!up || l.receiverStatus !== 'streaming') return null;
    const key = `${up.host}:${up.port}`;
    try {
      if (!upstream || upstream.key !== key) {
        await closeClient(upstream?.c);
        upstream = null;
        const c = new Client(pgClientConfig({ ...repmgrTarget(ctx, up), timeoutMs: 1000 }));
        c.on('error', () => {
          if (upstream?.c === c) upstream = null;
        });
        await c.connect();
        upstream = { key, c };
      }
      return toReplicationRows((await upstream.c.query(REPLICATION_SQL)).rows);
    } catch {
      const c = upstream?.c;
      upstream = null;
      await closeClient(c);
      return null;
    }
  };

  /**
   * Follows a primary on a newer timeline at once. With `reattach` (a detached standby whose
   * lease ran out: no promotion came of it), a primary on the same timeline is followed too.
   */
  const fastFollow = async (l: LocalReplication, reattach: boolean) => {
    if (following || Date.now() - lastFollowAt < 5000) return;
    following = true;
    try {
      const peers = await Promise.all(others.map((m) => probePeerLsn(m, creds)));
      const mine = Math.max(l.timeline, streamTl);
      const up = memberAt(l.senderHost, l.senderPort);
      for (const p of peers) if (p.reachable && !p.inRecovery) seenPrimaryTl = Math.max(seenPrimaryTl, p.timeline ?? 0);
      const newer = peers.filter((p) => p.reachable && !p.inRecovery && (p.timeline ?? 0) > mine && p.name !== up?.name);
      // Re-attach only to a primary on the newest timeline ever seen: a promoted member that is out of
      // reach now (a partition) must not let an older primary collect this standby's confirmations.
      // And only once the candidate that detached it is seen still a standby (it did not promote): a candidate
      // out of reach may have promoted on the other side of a partition.
      const by = l.detachedBy ? peers.find((p) => p.name === l.detachedBy) : undefined;
      const candidateStayedStandby = !l.detachedBy || (!!by && by.reachable && by.inRecovery);
      const same = reattach && !newer.length && candidateStayedStandby ? peers.filter((p) => p.reachable && !p.inRecovery && (p.timeline ?? 0) >= Math.max(mine, seenPrimaryTl)) : [];
      if (reattach && !newer.length && !candidateStayedStandby && Date.now() - lastHoldLog > 10000) {
        lastHoldLog = Date.now();
        log.warn({ event: 'detached-hold', by: l.detachedBy }, `still detached: ${l.detachedBy}, whose guard detached this standby, is out of reach or not a standby, so it may have been promoted; not re-attaching to an older primary`);
      }
      if (newer.length !== 1 && same.length !== 1) return;
      const target = newer.length === 1 ? newer[0] : same[0];
      lastFollowAt = Date.now();
      if (newer.length === 1) log.info({ event: 'fast-follow', to: target.name, myTimeline: l.timeline, theirs: target.timeline, detached: !l.hasConninfo }, `${target.name} runs as primary on newer timeline ${target.timeline} (mine ${mine}, upstream ${up?.name ?? 'none'}): following it now rather than waiting for repmgrd's polling, and so that the old primary, should it wake, finds no standby to confirm its commits (field notes pitfall 5)`);
      else log.warn({ event: 're-attach', to: target.name, timeline: target.timeline, detachedMs: detachedSince === null ? null : Date.now() - detachedSince }, `detached by a promotion guard ${detachedSince === null ? '' : `${Date.now() - detachedSince} ms ago`} but no newer primary appeared; ${target.name} is the only primary (timeline ${target.timeline}): re-attaching to it`);
      const t0 = Date.now();
      try {
        await repmgr(ctx, ['standby', 'follow', `--upstream-node-id=${await nodeIdOf(ctx, target.name)}`], 60000);
        log.info({ event: 'fast-followed', to: target.name, ms: Date.now() - t0 }, `following ${target.name} (${Date.now() - t0} ms)`);
        // repmgrd did not run this follow; restarted, it monitors the new upstream (a repmgrd left watching
        // the old one was seen never to start an election after the next failure).
        if (ctx.sup.signal('repmgrd', 'SIGTERM')) log.info({ event: 'repmgrd-restart', upstream: target.name }, `restarting repmgrd so it monitors ${target.name}`);
      } catch (e) {
        log.warn({ event: 'fast-follow-failed', to: target.name, err: (e as Error).message }, `fast follow of ${target.name} failed; repmgrd will follow on its own: ${(e as Error).message}`);
      }
    } finally {
      following = false;
    }
  };

  const standbyTick = async (c: Client, l: LocalReplication, now: number) => {
    if (wasPrimary || history === null) {
      // Fresh history for each standby life: a former primary has not streamed yet.
      history = wasPrimary ? null : readHistory();
      wasPrimary = false;
    }
    const view = await primaryView(l);
    const up = memberAt(l.senderHost, l.senderPort);
    history = recordStandbyTick(history, { node: cfg.nodeName, now, streaming: l.receiverStatus === 'streaming', receivedLsn: l.receivedLsn, upstream: up?.name ?? null, primaryView: view });
    const shape = historyShape(history);
    if (shape !== historyWritten.shape || now - historyWritten.at >= HISTORY_REFRESH_MS) {
      writeIfChanged(zp.history, JSON.stringify(history) + '\n', 0o644);
      historyWritten = { shape, at: now };
    }
    const want = standbySyncNames(cfg.syncMode, others.map((m) => m.name));
    if (l.synchronousStandbyNames !== want && !(lastApplied && lastApplied.names === want && now - lastApplied.at < 3000)) {
      await c.query(`ALTER SYSTEM SET synchronous_standby_names = ${lit(want)}`);
      await c.query('SELECT pg_reload_conf()');
      lastApplied = { names: want, at: now };
      log.info({ event: 'standby-sync-names', to: want }, `standby keeps synchronous_standby_names '${want}' ready for a promotion (no asynchronous window after it)`);
    }
    if (standbyStatusFor !== want) {
      // So `pgswarm status` shows a standby's own state, not what this node wrote in an earlier life as primary.
      standbyStatusFor = want;
      writeIfChanged(zp.syncStatus, JSON.stringify({ node: cfg.nodeName, role: 'standby', mode: cfg.syncMode, names: want, degraded: false, rule: 'standby', reason: want ? `standby: keeps synchronous_standby_names '${want}' ready for a promotion` : 'standby (asynchronous mode)', since: new Date(now).toISOString() }) + '\n', 0o644);
    }
    if (l.receiverStatus === 'streaming') streamTl = Math.max(streamTl, l.timeline);
    if (!l.hasConninfo) {
      if (detachedSince === null) {
        detachedSince = now;
        log.warn({ event: 'detached', leaseMs: cfg.detachLeaseMs }, `detached by a promotion candidate's guard: this standby confirms no WAL from the old primary; it follows the new primary as soon as one appears, or re-attaches to the only primary after ${cfg.detachLeaseMs} ms`);
      }
    } else {
      detachedSince = null;
      if (l.detachedBy) {
        await c.query('ALTER SYSTEM RESET pgswarm.detached_by');
        await c.query('SELECT pg_reload_conf()');
      }
    }
    // Not streaming: look every tick. Streaming: still look once a second, because a connection to a
    // frozen or cut-off old primary can look 'streaming' for wal_receiver_timeout.
    if (l.receiverStatus !== 'streaming' || now - lastFollowCheck >= 1000) {
      lastFollowCheck = now;
      void fastFollow(l, detachedSince !== null && now - detachedSince >= cfg.detachLeaseMs);
    }
  };

  const tick = async () => {
    if (fenced) return void checkFence(null);
    if (!ctx.sup.isRunning('postgres')) {
      await closeLocal();
      return;
    }
    let c: Client;
    let l: LocalReplication;
    try {
      c = await localClient();
      l = await readLocalReplication(c);
    } catch {
      await closeLocal();
      return;
    }
    const now = Date.now();
    if (!l.inRecovery) {
      if (!wasPrimary) {
        wasPrimary = true;
        primarySince = now;
        majoritySeen = false;
        history = null;
        fs.rmSync(zp.history, { force: true });
        lastDecision = null;
        standbyStatusFor = null;
      }
      if (streamedOnTl < l.timeline && l.replication.some((r) => r.state === 'streaming')) {
        streamedOnTl = l.timeline;
        writeIfChanged(zp.streamedOn, JSON.stringify({ timeline: l.timeline, at: new Date(now).toISOString() }) + '\n', 0o644);
        log.info({ event: 'fencing-armed', timeline: l.timeline }, `a standby streams from this primary on timeline ${l.timeline}: it could be promoted in this node's place, so losing the majority now fences`);
      }
      await keepSyncNames(c, l, now);
      void checkFence(l);
    } else {
      await standbyTick(c, l, now);
    }
  };

  const loop = () => {
    if (stopped) return;
    tick()
      .catch((e: Error) => log.warn({ event: 'zero-loss-tick-failed', err: e.message }, `zero-loss tick failed: ${e.message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, cfg.syncIntervalMs);
      });
  };

  return {
    beforeDecide: async () => {
      // A fence ends with the agent: a new agent decides the role anew, so an old "fenced: true" would mislead `pgswarm status`.
      try {
        const f = JSON.parse(fs.readFileSync(zp.fence, 'utf8')) as { fenced?: boolean; rule?: string; at?: string };
        if (f.fenced) writeIfChanged(zp.fence, JSON.stringify({ node: cfg.nodeName, fenced: false, reason: `agent restarted (it was fenced by rule ${f.rule ?? '?'} at ${f.at ?? '?'}): the role is decided anew`, at: new Date().toISOString() }) + '\n', 0o644);
      } catch {
        /* no fence file */
      }
      writeIfChanged(zp.validateConf, JSON.stringify({
        PGSWARM_NODE_NAME: cfg.nodeName,
        PGSWARM_PEERS: cfg.members.map((m) => `${m.name}@${m.host}:${m.port}:${m.sshPort}`).join(','),
        PGSWARM_REPMGR_USER: cfg.replUser,
        PGSWARM_REPMGR_PASSWORD_FILE: path.join(ctx.paths.secretsDir, 'repmgr.password'),
        PGSWARM_CA_CERT_FILE: cfg.caCertFile,
        PGSWARM_CONNECT_TIMEOUT_SECS: String(cfg.connectTimeoutSecs),
        PGSWARM_SYNC_MODE: cfg.syncMode,
        PGSWARM_HISTORY_FILE: zp.history,
        PGSWARM_CTL_SOCKET: ctx.paths.ctlSocket,
        ...(cfg.witness ? { PGSWARM_WITNESS: `${cfg.witness.name}@${cfg.witness.host}:${cfg.witness.port}:${cfg.witness.sshPort}` } : {}),
      }, null, 2) + '\n', 0o644);
      log.info({ event: 'zero-loss', mode: cfg.syncMode, fenceAfterMs: cfg.fenceAfterMs, degradeAfterMs: cfg.syncMode === 'degrade' ? cfg.degradeAfterMs : undefined, witness: cfg.witness?.name }, `synchronous mode ${cfg.syncMode}; fencing ${cfg.fenceAfterMs > 0 ? `after ${cfg.fenceAfterMs} ms without a majority` : 'on a newer primary only'}`);
    },
    onRunning: async () => {
      if (started) return;
      started = true;
      loop();
    },
    onStop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await closeLocal();
      await closeClient(upstream?.c);
    },
  };
}

/** Runs several NodeExtras in order (the SSH layer first, then zero-loss). */
export function composeExtras(...parts: NodeExtras[]): NodeExtras {
  return {
    beforeDecide: async (ctx) => {
      for (const p of parts) await p.beforeDecide?.(ctx);
    },
    onRunning: async (ctx) => {
      for (const p of parts) await p.onRunning?.(ctx);
    },
    onStop: async (ctx) => {
      for (const p of parts) await p.onStop?.(ctx);
    },
  };
}

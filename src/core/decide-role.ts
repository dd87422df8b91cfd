/**
 * Why did this node become a primary, a standby, or wait? One pure function
 * over one immutable snapshot of what the node could see at start-up.
 *
 * The rules are a table (RULES): the first rule whose `when` matches decides.
 * Each rule carries its own reason, so every decision is explained in the log.
 */

/** What one pgproxy (PgBouncer admin console) said when asked "who is primary". */
export type ProxyAnswer =
  | { proxy: string; status: 'primary'; primary: string }
  | { proxy: string; status: 'no-primary' }
  | { proxy: string; status: 'unreachable'; error: string };

/** A direct probe of one peer's PostgreSQL (short timeout). */
export type PeerProbe =
  | { name: string; reachable: false; error: string }
  | {
      name: string;
      reachable: true;
      inRecovery: boolean;
      timeline: number;
      systemId: string;
      /** The candidate whose promotion guard detached this standby (pgswarm.detached_by), if any. */
      detachedBy?: string | null;
    };

/** `pg_controldata` facts of the local PGDATA. */
export interface ControlData {
  /** e.g. 'shut down', 'shut down in recovery', 'in production', 'in archive recovery'. */
  state: string;
  timeline: number;
  systemId: string;
}

export interface LocalState {
  /** PGDATA is missing or holds no files. */
  pgdataEmpty: boolean;
  /** Our "this node finished set-up" marker (kept outside PGDATA), if present. */
  marker: { systemId: string; role?: string } | null;
  /** A set-up step that we started and did not finish ('init' | 'clone' | 'rejoin'), if any. */
  inProgress: 'init' | 'clone' | 'rejoin' | null;
  /** pg_controldata output, when PGDATA holds a cluster. */
  control: ControlData | null;
  /** This node, as primary, fenced itself for a lost majority and has not run since. */
  fencedAlone?: boolean;
}

export interface Observation {
  self: string;
  isBootstrapNode: boolean;
  proxies: readonly ProxyAnswer[];
  peers: readonly PeerProbe[];
  local: LocalState;
}

export type Action =
  | { action: 'init-primary' }
  | { action: 'clone-standby'; from: string }
  | { action: 'start-primary' }
  | { action: 'start-standby'; follow: string }
  | { action: 'rejoin'; from: string }
  | { action: 'discard-partial'; step: 'init' | 'clone' }
  | { action: 'reclone'; from: string }
  | { action: 'wait' }
  | { action: 'refuse' };

export type Decision = Action & { rule: string; reason: string };

/** Facts derived once from the observation; the rules read only these. */
export interface Facts {
  obs: Observation;
  /** The primary according to the proxies, when all that answered agree. */
  proxyPrimary: string | null;
  proxiesDisagree: boolean;
  proxiesAnswered: number;
  /** Reachable peers (not self) that are running as primary. */
  peerPrimaries: string[];
  /** The primary we go by: proxies first, else a single running peer primary. */
  primary: string | null;
  primarySource: 'proxy' | 'peer' | null;
  primaryProbe: PeerProbe | null;
  /** The local data was a primary when it stopped (not in recovery). */
  wasPrimary: boolean;
  hasData: boolean;
  highestPeerTimeline: number;
  /**
   * Reachable standbys detached by another member's promotion guard, where that member is not
   * seen as a standby on this node's timeline or older: it may have been promoted out of reach.
   */
  possiblePromotions: { peer: string; by: string }[];
  /** Voters (this node, data peers, proxies) that answered, of how many. */
  votersAnswered: number;
  votersTotal: number;
}

export function deriveFacts(obs: Observation): Facts {
  const said = obs.proxies.filter((p): p is Extract<ProxyAnswer, { status: 'primary' }> => p.status === 'primary');
  const names = [...new Set(said.map((p) => p.primary))];
  const proxiesDisagree = names.length > 1;
  const proxyPrimary = names.length === 1 ? names[0] : null;
  const peerPrimaries = obs.peers
    .filter((p) => p.name !== obs.self && p.reachable && !p.inRecovery)
    .map((p) => p.name);
  let primary: string | null = null;
  let primarySource: Facts['primarySource'] = null;
  if (proxyPrimary) {
    primary = proxyPrimary;
    primarySource = 'proxy';
  } else if (!proxiesDisagree && peerPrimaries.length === 1) {
    primary = peerPrimaries[0];
    primarySource = 'peer';
  }
  const primaryProbe = obs.peers.find((p) => p.name === primary) ?? null;
  const c = obs.local.control;
  const wasPrimary = !!c && !c.state.includes('recovery');
  const reachable = obs.peers.filter((p): p is Extract<PeerProbe, { reachable: true }> => p.reachable && p.name !== obs.self);
  return {
    obs,
    proxyPrimary,
    proxiesDisagree,
    proxiesAnswered: obs.proxies.filter((p) => p.status !== 'unreachable').length,
    peerPrimaries,
    primary,
    primarySource,
    primaryProbe,
    wasPrimary,
    hasData: !obs.local.pgdataEmpty,
    highestPeerTimeline: reachable.reduce((m, p) => Math.max(m, p.timeline), 0),
    possiblePromotions: reachable
      .filter((p) => !!p.detachedBy && p.detachedBy !== obs.self)
      .filter((p) => {
        const by = reachable.find((q) => q.name === p.detachedBy);
        return !(by && by.inRecovery && (!c || by.timeline <= c.timeline));
      })
      .map((p) => ({ peer: p.name, by: p.detachedBy as string })),
    votersAnswered: 1 + reachable.length + obs.proxies.filter((p) => p.status !== 'unreachable').length,
    votersTotal: 1 + obs.peers.filter((p) => p.name !== obs.self).length + obs.proxies.length,
  };
}

interface Rule {
  name: string;
  when: (f: Facts) => boolean;
  then: (f: Facts) => Action;
  reason: (f: Facts) => string;
}

const sysIdOf = (p: PeerProbe | null) => (p && p.reachable ? p.systemId : null);

/** The decision table, in order. The first match wins. */
export const RULES: readonly Rule[] = [
  {
    name: 'witness-volume',
    when: (f) => f.obs.local.marker?.role === 'witness',
    then: () => ({ action: 'refuse' }),
    reason: () => 'this volume was set up by a witness (PGSWARM_ROLE=witness: repmgr metadata, no data): a data node never starts on it; give the data node its own volume',
  },
  {
    name: 'partial-setup',
    when: (f) => (f.obs.local.inProgress === 'init' || f.obs.local.inProgress === 'clone') && f.obs.local.marker === null,
    then: (f) => ({ action: 'discard-partial', step: f.obs.local.inProgress as 'init' | 'clone' }),
    reason: (f) => `an interrupted ${f.obs.local.inProgress} left PGDATA half-built; it was created by this node and holds no committed data, so it is moved aside and the set-up starts again`,
  },
  {
    name: 'interrupted-rejoin',
    when: (f) => f.obs.local.inProgress === 'rejoin' && !!f.obs.local.marker && !!f.primary && f.primary !== f.obs.self && !!f.primaryProbe && f.primaryProbe.reachable && f.primaryProbe.systemId === f.obs.local.marker.systemId,
    then: (f) => ({ action: 'reclone', from: f.primary! }),
    reason: (f) => `a rejoin (pg_rewind) of this node was interrupted or failed, so its data is neither the old primary's nor a consistent standby's; ${f.primary} runs as primary of the same cluster: moving PGDATA aside (kept, not deleted) and cloning a fresh standby from it`,
  },
  {
    name: 'interrupted-rejoin-wait',
    when: (f) => f.obs.local.inProgress === 'rejoin',
    then: () => ({ action: 'wait' }),
    reason: () => 'a rejoin (pg_rewind) of this node was interrupted or failed and no reachable primary of this cluster is known: waiting, never starting half-rewound data',
  },
  {
    name: 'foreign-data',
    when: (f) => f.hasData && f.obs.local.marker === null,
    then: () => ({ action: 'refuse' }),
    reason: () => 'PGDATA is not empty but this node never finished setting it up (no pgswarm marker): refusing to touch data that may belong to something else; move it away or restore the marker',
  },
  {
    name: 'data-replaced',
    when: (f) => f.hasData && !!f.obs.local.marker && !!f.obs.local.control && f.obs.local.marker.systemId !== f.obs.local.control.systemId,
    then: () => ({ action: 'refuse' }),
    reason: (f) => `PGDATA holds cluster ${f.obs.local.control!.systemId} but this node was set up for cluster ${f.obs.local.marker!.systemId}: refusing, data untouched`,
  },
  {
    name: 'unreadable-data',
    when: (f) => f.hasData && !f.obs.local.control,
    then: () => ({ action: 'refuse' }),
    reason: () => 'PGDATA is not empty but pg_controldata cannot read it: refusing, data untouched',
  },
  {
    name: 'other-cluster',
    when: (f) => f.hasData && !!sysIdOf(f.primaryProbe) && sysIdOf(f.primaryProbe) !== f.obs.local.control!.systemId,
    then: () => ({ action: 'refuse' }),
    reason: (f) => `PGDATA belongs to cluster ${f.obs.local.control!.systemId} but the primary ${f.primary} runs cluster ${sysIdOf(f.primaryProbe)}: refusing, data untouched`,
  },
  {
    name: 'proxies-disagree',
    when: (f) => f.proxiesDisagree,
    then: () => ({ action: 'wait' }),
    reason: (f) => `the proxies name different primaries (${f.obs.proxies.map((p) => (p.status === 'primary' ? `${p.proxy}: ${p.primary}` : `${p.proxy}: ${p.status}`)).join(', ')}): waiting until they agree`,
  },
  {
    name: 'peers-claim-several',
    when: (f) => !f.proxyPrimary && f.peerPrimaries.length > 1,
    then: () => ({ action: 'wait' }),
    reason: (f) => `no proxy names a primary and several peers run as primary (${f.peerPrimaries.join(', ')}): waiting for the proxies to settle it`,
  },
  // --- an empty node
  {
    name: 'empty-clone',
    when: (f) => !f.hasData && !!f.primary && f.primary !== f.obs.self,
    then: (f) => ({ action: 'clone-standby', from: f.primary! }),
    reason: (f) => `PGDATA is empty and ${f.primarySource === 'proxy' ? 'the proxies name' : 'a reachable peer runs as'} primary ${f.primary}: cloning a standby from it over TLS`,
  },
  {
    name: 'empty-named-primary',
    when: (f) => !f.hasData && f.primary === f.obs.self,
    then: () => ({ action: 'wait' }),
    reason: () => 'the proxies name this node as primary but its PGDATA is empty: waiting, because initialising now would create a second, empty cluster',
  },
  {
    name: 'empty-bootstrap',
    when: (f) => !f.hasData && f.obs.isBootstrapNode && f.obs.peers.every((p) => p.name === f.obs.self || !p.reachable),
    then: () => ({ action: 'init-primary' }),
    reason: () => 'PGDATA is empty, no proxy names a primary, no peer answers, and this is the designated bootstrap node: initialising a new cluster as primary',
  },
  {
    name: 'empty-bootstrap-peers-up',
    when: (f) => !f.hasData && f.obs.isBootstrapNode,
    then: () => ({ action: 'wait' }),
    reason: () => 'PGDATA is empty and this is the bootstrap node, but peers answer without a primary: waiting rather than creating a second cluster',
  },
  {
    name: 'empty-no-primary',
    when: (f) => !f.hasData,
    then: () => ({ action: 'wait' }),
    reason: () => 'PGDATA is empty and no primary is known yet: waiting for one to clone from',
  },
  // --- a node with data that it set up itself
  {
    name: 'named-primary',
    when: (f) => f.primary === f.obs.self && f.wasPrimary,
    then: () => ({ action: 'start-primary' }),
    reason: (f) => `the ${f.primarySource === 'proxy' ? 'proxies name' : 'peers point at'} this node as primary and its data was a primary: starting as primary`,
  },
  {
    name: 'named-primary-but-standby-data',
    when: (f) => f.primary === f.obs.self && !f.wasPrimary,
    then: () => ({ action: 'wait' }),
    reason: () => 'the proxies name this node as primary but its data stopped as a standby: waiting for repmgr or the proxies to settle on a real primary',
  },
  {
    name: 'old-primary-rejoin',
    when: (f) => !!f.primary && f.wasPrimary,
    then: (f) => ({ action: 'rejoin', from: f.primary! }),
    reason: (f) => `this node's data was a primary (timeline ${f.obs.local.control!.timeline}) but ${f.primary} is primary now: rejoining as its standby with pg_rewind, so writes made here after the split are discarded, not served`,
  },
  {
    name: 'standby-older-timeline',
    when: (f) => !!f.primary && !f.wasPrimary && !!f.primaryProbe && f.primaryProbe.reachable && f.primaryProbe.timeline > f.obs.local.control!.timeline,
    then: (f) => ({ action: 'rejoin', from: f.primary! }),
    reason: (f) => `this node's data is a standby on timeline ${f.obs.local.control!.timeline} but primary ${f.primary} is on timeline ${(f.primaryProbe as { timeline: number }).timeline}: rejoining with pg_rewind in case it replayed past the fork point (a no-op when it did not)`,
  },
  {
    name: 'standby-follow',
    when: (f) => !!f.primary && !f.wasPrimary,
    then: (f) => ({ action: 'start-standby', follow: f.primary! }),
    reason: (f) => `this node's data is a standby and ${f.primary} is primary: starting as a hot standby following it`,
  },
  {
    name: 'cold-start-promotion-possible',
    when: (f) => f.wasPrimary && !f.primary && f.possiblePromotions.length > 0,
    then: () => ({ action: 'wait' }),
    reason: (f) => `no proxy names a primary, but ${f.possiblePromotions.map((p) => `${p.peer} was detached by ${p.by}'s promotion guard`).join(', ')} and ${[...new Set(f.possiblePromotions.map((p) => p.by))].join(', ')} is not seen as a standby: it may have been promoted on a newer timeline out of this node's reach; waiting rather than starting a second primary`,
  },
  {
    name: 'fenced-primary-no-majority',
    when: (f) => f.wasPrimary && !f.primary && !!f.obs.local.fencedAlone && f.votersAnswered < Math.floor(f.votersTotal / 2) + 1,
    then: () => ({ action: 'wait' }),
    reason: (f) => `this node fenced itself as primary after losing the majority and has not seen one since (${f.votersAnswered} of ${f.votersTotal} voters answer): the others may have promoted a primary it cannot reach; waiting rather than starting a second primary`,
  },
  {
    name: 'cold-start-old-primary',
    when: (f) => f.wasPrimary && !f.primary && f.highestPeerTimeline <= f.obs.local.control!.timeline,
    then: () => ({ action: 'start-primary' }),
    reason: (f) => `no proxy names a primary and no peer runs as one; this node's data was the primary on timeline ${f.obs.local.control!.timeline} and no reachable peer has a later one (${f.proxiesAnswered} prox${f.proxiesAnswered === 1 ? 'y' : 'ies'} answered): whole-cluster cold start, starting as primary`,
  },
  {
    name: 'stale-primary',
    when: (f) => f.wasPrimary,
    then: () => ({ action: 'wait' }),
    reason: (f) => `this node's data was a primary on timeline ${f.obs.local.control!.timeline} but a peer has timeline ${f.highestPeerTimeline}: the cluster moved on; waiting for its primary to be known, then rejoin`,
  },
  {
    name: 'standby-no-primary',
    when: () => true,
    then: () => ({ action: 'wait' }),
    reason: () => 'this node\'s data is a standby and no primary is known: waiting for one to follow',
  },
];

export function decideRole(obs: Observation): Decision {
  const f = deriveFacts(obs);
  for (const r of RULES) {
    if (r.when(f)) return { ...r.then(f), rule: r.name, reason: r.reason(f) } as Decision;
  }
  /* istanbul ignore next: the last rule always matches */
  throw new Error('no rule matched');
}

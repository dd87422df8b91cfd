/**
 * May this standby be promoted? repmgrd runs our failover_validation_command
 * on the node it elected; a non-zero exit vetoes the promotion (repmgrd runs
 * the election again after election_rerun_interval). Pure: the command probes
 * the peers and reads the standby's own history, and this decides.
 *
 * Every mode:
 *  - a standby that never streamed since it became one is never promoted
 *    (field notes pitfall 6: a peer promoted a never-streamed replica and lost
 *    every acknowledged write);
 *  - no promotion while a reachable member runs as primary;
 *  - no promotion when a reachable standby has received more WAL.
 * Strict mode, additionally: this standby must be known to hold every
 * acknowledged commit. With `ANY 1 (all standbys)` each acknowledged commit is
 * flushed on at least one standby, so it is enough to have the highest LSN
 * among ALL other standbys. A standby that cannot reach a sibling cannot know,
 * and refuses, unless at its last look at the primary (recent) it was the
 * only synchronous standby streaming: then the sibling held no commit it lacks.
 *
 * Detaching the siblings (every mode; required in strict mode). A frozen or
 * cut-off primary can wake at any moment; a sibling standby whose WAL
 * receiver is still connected to it would then confirm its commits (ANY 1
 * counts every standby) and those commits would be rewound away once the
 * sibling follows the new primary. So before allowing, the guard asks for
 * every reachable sibling standby to be detached (primary_conninfo emptied,
 * its WAL receiver gone: rule `detach-first`), then decides again on the
 * siblings' final LSNs. A sibling that could not be detached vetoes in strict
 * mode. repmgr's own standby_disconnect_on_failover does the same with an
 * unconditional 5 s sleep (field notes pitfall 3).
 *
 * With a witness (2+1 topology), in every mode: the candidate must reach a
 * majority of the voters (data members + witness, itself included), so a
 * standby cut off from both the primary and the witness never promotes.
 */
import type { SyncMode } from './sync-standbys';
import type { StandbyHistory } from './standby-history';
import { compareLsn, parseLsn } from './lsn';

export type PeerLsn =
  | { name: string; reachable: false; error?: string }
  | { name: string; reachable: true; inRecovery: boolean; receivedLsn: string | null };

export interface GuardInput {
  mode: SyncMode;
  self: string;
  selfReceivedLsn: string | null;
  /** Every other data member (the old primary included). */
  peers: readonly PeerLsn[];
  history: StandbyHistory | null;
  now: number;
  /** How old the last look at the primary may be for the "only synchronous standby" rule. */
  freshMs: number;
  /**
   * Siblings confirmed detached (no WAL receiver, no primary_conninfo) by the
   * command. Absent: not tried yet, so a decision that would allow asks for it.
   */
  detached?: readonly string[];
  /** The witness (referee without data), when one is configured, and whether this node reaches it now. */
  witness?: { name: string; reachable: boolean } | null;
}

export interface GuardDecision {
  allow: boolean;
  rule: string;
  reason: string;
  /** Rule detach-first: the sibling standbys to detach before deciding again. */
  detach?: string[];
}

type Up = Extract<PeerLsn, { reachable: true }>;

export function mayPromote(i: GuardInput): GuardDecision {
  const h = i.history;
  const no = (rule: string, reason: string): GuardDecision => ({ allow: false, rule, reason });
  if (!h || h.node !== i.self || h.streamingAt === null) {
    return no('never-streamed', `${i.self} has never streamed from a primary since it became a standby: it may lack acknowledged commits (field notes pitfall 6)`);
  }
  if (parseLsn(i.selfReceivedLsn) === null) return no('own-lsn-unknown', `${i.self} cannot read its own received LSN`);
  const up = i.peers.filter((p): p is Up => p.reachable);
  if (i.witness) {
    const total = i.peers.length + 2;
    const seen = 1 + up.length + (i.witness.reachable ? 1 : 0);
    if (seen < Math.floor(total / 2) + 1) {
      return no('no-majority', `${i.self} reaches ${seen} of ${total} voters (itself, ${up.length}/${i.peers.length} data peers, witness ${i.witness.name} ${i.witness.reachable ? 'reachable' : 'unreachable'}; ${Math.floor(total / 2) + 1} needed): it may be the one cut off, and the primary may still be serving`);
    }
  }
  const primaries = up.filter((p) => !p.inRecovery).map((p) => p.name);
  if (primaries.length) return no('primary-alive', `${primaries.join(', ')} answers as primary: no second primary`);
  const ahead = up.filter((p) => compareLsn(p.receivedLsn, i.selfReceivedLsn) > 0);
  if (ahead.length) {
    return no('behind-peer', `${ahead.map((p) => `${p.name} (${p.receivedLsn})`).join(', ')} received more WAL than ${i.self} (${i.selfReceivedLsn}): promote the most advanced standby instead`);
  }
  const siblingsUp = up.filter((p) => p.inRecovery).map((p) => p.name);
  const attached = siblingsUp.filter((n) => !(i.detached ?? []).includes(n));
  if (attached.length && i.detached === undefined) {
    return { allow: false, rule: 'detach-first', detach: attached, reason: `${i.self} may be promoted once ${attached.join(', ')} stop receiving from the old primary (a woken old primary must find no standby to confirm its commits): detaching them, then deciding again on their final LSNs` };
  }
  if (i.mode !== 'strict') {
    return { allow: true, rule: 'most-advanced-reachable', reason: `${i.mode} mode: ${i.self} (${i.selfReceivedLsn}) has streamed and no reachable standby is ahead of it` };
  }
  if (attached.length) {
    return no('sibling-attached', `strict mode: ${attached.join(', ')} could not be detached from the old primary: should it wake, ${attached.join(', ')} could confirm commits that ${i.self}'s timeline would not have`);
  }
  const unknown = up.filter((p) => parseLsn(p.receivedLsn) === null);
  if (unknown.length) return no('peer-lsn-unknown', `strict mode: cannot read the received LSN of ${unknown.map((p) => p.name).join(', ')}, so cannot tell who holds every acknowledged commit`);
  const unreachable = i.peers.filter((p) => !p.reachable).map((p) => p.name);
  // The old primary (the upstream it streamed from) is unreachable: that is why we are here. Any other
  // unreachable member is a sibling standby that may have flushed acknowledged commits this node lacks.
  const siblings = unreachable.filter((n) => n !== h.upstream);
  if (siblings.length) {
    const streamed = siblings.filter((n) => h.othersStreaming.includes(n));
    if (streamed.length) {
      return no('sibling-unknown', `strict mode: ${streamed.join(', ')} cannot be reached and was streaming at the last look at the primary, so it may hold acknowledged commits ${i.self} lacks`);
    }
    if (h.observedAt === null || i.now - h.observedAt > i.freshMs) {
      return no('stale-view', `strict mode: ${siblings.join(', ')} unreachable and ${i.self}'s last look at the primary is ${h.observedAt === null ? 'missing' : `${i.now - h.observedAt} ms old (limit ${i.freshMs})`}: cannot tell whether a sibling held more`);
    }
    if (!h.syncAtObservation) {
      return no('not-synchronous', `strict mode: ${siblings.join(', ')} unreachable and ${i.self} was not a streaming synchronous standby at its last look at the primary`);
    }
    return { allow: true, rule: 'only-synchronous', reason: `strict mode: ${siblings.join(', ')} unreachable, but ${i.self} (${i.selfReceivedLsn}) was the only streaming synchronous standby ${i.now - h.observedAt} ms ago and no reachable standby is ahead: it holds every acknowledged commit` };
  }
  return { allow: true, rule: 'most-advanced-of-all', reason: `strict mode: every other standby answered and none is ahead of ${i.self} (${i.selfReceivedLsn}): it holds every acknowledged commit` };
}

import type { Member } from '../core/node-config';
import { currentPrimary, applySwitchoverHold, CurrentPrimary, SwitchoverHold, MemberView } from '../core/current-primary';
import { viewForRound, LastGood, LoadVerdict, ProbeOutcome } from '../core/local-load';
import { viewMember, probeQuery, probeTarget, ProbeCreds } from './peer-probe';

/**
 * What a long-lived answer loop remembers between rounds: each member's last good view, and how
 * starved this process was during a round (core/local-load.ts: overload is not partition).
 */
export interface AnswerMemory {
  lastGood: Map<string, LastGood<MemberView>>;
  starved: (since: number) => LoadVerdict;
  /** Called when a round carried a view over (for the log). */
  onCarry?: (member: string, reason: string) => void;
}

export function answerMemory(starved: (since: number) => LoadVerdict, onCarry?: (member: string, reason: string) => void): AnswerMemory {
  return { lastGood: new Map(), starved, onCarry };
}

function applyMemory(views: MemberView[], mem: AnswerMemory, started: number): MemberView[] {
  const now = Date.now();
  const load = mem.starved(started);
  return views.map((v) => {
    const o: ProbeOutcome<MemberView> = v.reachable ? { ok: true, view: v } : { ok: false, timedOut: v.timedOut === true, error: v.error };
    const r = viewForRound(o, mem.lastGood.get(v.name), load.starved, now);
    if (o.ok) mem.lastGood.set(v.name, { view: v, at: now });
    if (r.carried) mem.onCarry?.(v.name, `${r.reason} (${load.reason})`);
    return r.view ?? v;
  });
}

/** Probes every member (each with its own short timeout), decides, and applies a planned-switchover hold. */
export async function probeCurrentPrimary(self: string, members: readonly Member[], creds: ProbeCreds, mem?: AnswerMemory): Promise<CurrentPrimary> {
  const started = Date.now();
  const fresh = await Promise.all(members.map((m) => viewMember(m, members, creds)));
  const views = mem ? applyMemory(fresh, mem, started) : fresh;
  const r = currentPrimary(self, views);
  if (!r.primary) return r;
  const m = members.find((x) => x.name === r.primary)!;
  const hold = await probeQuery<SwitchoverHold>(probeTarget(m, creds), creds, 'SELECT target, deadline::text AS deadline FROM pgswarm.switchover WHERE deadline > now()')
    .then((rows) => rows[0], () => undefined); // no registry schema yet: no hold
  return applySwitchoverHold(r, hold ?? null);
}

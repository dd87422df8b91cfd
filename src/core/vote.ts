/**
 * The proxy's vote: which node, if any, may receive writes.
 *
 * Rules (pure, over one round of answers):
 *  1. Only well-formed answers from cluster members count; timeouts, garbage,
 *     errors and rejected host keys are ignored (and reported).
 *  2. A candidate needs a majority of ALL voters (floor(n/2)+1), not of those
 *     that answered: a proxy cut off together with the old primary alone never
 *     routes to it. Voters are the data members plus the witnesses (referees
 *     without data, 2+1 topology): a witness's answer names a primary like a
 *     node's does, but a witness is never a candidate, and its answer counts
 *     only when it answers as role=witness.
 *  3. The candidate must itself answer, as role=primary, naming itself.
 *  4. When several nodes claim role=primary, the candidate must be the one the
 *     healthy standbys follow (no other claimant may have more standbys
 *     streaming from it), and must not be on an older timeline than another
 *     claimant. Otherwise: no primary.
 */
import { AskResult, NodeAnswer } from './node-answer';

export interface VoteResult {
  primary: string | null;
  /** Short rule name, stable for tests and logs. */
  rule: string;
  reason: string;
  /** Per-candidate vote counts. */
  tally: Record<string, string[]>;
  /** Members whose answer did not count, with why. */
  ignored: Record<string, string>;
  /** Members (other than the winner) that claim to be primary. */
  conflicts: string[];
}

export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1;
}

export function vote(members: readonly string[], answers: Readonly<Record<string, AskResult | undefined>>, witnesses: readonly string[] = []): VoteResult {
  const wit = witnesses.filter((w) => !members.includes(w));
  const everyone = [...members, ...wit];
  const n = everyone.length;
  const need = majorityOf(n);
  const ignored: Record<string, string> = {};
  const ok: Record<string, NodeAnswer> = {};
  for (const name of everyone) {
    const r = answers[name];
    if (!r) ignored[name] = 'no answer';
    else if (r.kind === 'ok') {
      const isWitness = wit.includes(name);
      if (r.answer.node !== name) ignored[name] = `answer signed by ${r.answer.node}`;
      else if (isWitness && r.answer.role !== 'witness') ignored[name] = `witness answers as role=${r.answer.role}`;
      else if (!isWitness && r.answer.role === 'witness') ignored[name] = 'data member answers as a witness';
      else ok[name] = r.answer;
    } else ignored[name] = r.kind + ('detail' in r && r.detail ? `: ${r.detail}` : '');
  }
  for (const k of Object.keys(answers)) {
    if (!everyone.includes(k)) ignored[k] = 'not a cluster member';
  }
  const memberSet = new Set(members);
  const tally: Record<string, string[]> = {};
  for (const [name, a] of Object.entries(ok)) {
    if (a.primary && memberSet.has(a.primary)) (tally[a.primary] ??= []).push(name);
  }
  const claimants = Object.values(ok).filter((a) => a.role === 'primary' && memberSet.has(a.node)).map((a) => a.node);
  /** Conflicts exist only when two or more nodes claim primary. */
  const split = claimants.length > 1 ? claimants : [];
  const base = { tally, ignored };
  const answered = Object.keys(ok).length;
  const who = wit.length ? `${n} voters: ${members.length} data + ${wit.length} witness` : `${n} members`;
  if (members.length === 0) return { ...base, primary: null, rule: 'no-members', reason: 'the cluster has no members configured', conflicts: [] };

  const ranked = Object.entries(tally).sort((x, y) => y[1].length - x[1].length);
  const top = ranked[0];
  if (!top || top[1].length < need) {
    const best = top ? `${top[0]} has ${top[1].length}` : 'no node is named';
    return {
      ...base, primary: null, rule: 'no-majority', conflicts: split,
      reason: `no majority: ${best} of ${need} votes needed (${who}, ${answered} answered)${claimants.length ? `; claiming primary: ${claimants.join(', ')}` : ''}`,
    };
  }
  const [cand, voters] = top;
  const own = ok[cand];
  if (!own) {
    return { ...base, primary: null, rule: 'candidate-silent', conflicts: split, reason: `${cand} is named by ${voters.join(', ')} but did not answer itself (${ignored[cand] ?? 'no answer'})` };
  }
  if (own.role !== 'primary' || own.primary !== cand) {
    return { ...base, primary: null, rule: 'candidate-not-primary', conflicts: split, reason: `${cand} is named by ${voters.join(', ')} but answers role=${own.role}, primary=${own.primary ?? 'none'}` };
  }
  const others = claimants.filter((c) => c !== cand);
  if (others.length) {
    const followers = (x: string) => Object.values(ok).filter((a) => a.role === 'standby' && a.upstream === x).map((a) => a.node);
    const mine = followers(cand);
    for (const o of others) {
      const theirs = followers(o);
      if (theirs.length > mine.length) {
        return { ...base, primary: null, rule: 'conflict-standbys-follow-other', conflicts: others, reason: `split brain: ${cand} and ${others.join(', ')} claim primary; standbys follow ${o} (${theirs.join(', ')}) more than ${cand} (${mine.join(', ') || 'none'})` };
      }
      const tlO = ok[o].timeline;
      if (tlO !== null && own.timeline !== null && tlO > own.timeline) {
        return { ...base, primary: null, rule: 'conflict-older-timeline', conflicts: others, reason: `split brain: ${cand} (timeline ${own.timeline}) is named by a majority but ${o} claims primary on newer timeline ${tlO}` };
      }
    }
    return {
      ...base, primary: cand, rule: 'majority-despite-conflict', conflicts: others,
      reason: `split brain resolved: ${cand} named by ${voters.join(', ')} (${voters.length}/${n}, ${need} needed) and followed by standbys ${mine.join(', ') || 'none'}; ignoring ${others.join(', ')} which also claim primary`,
    };
  }
  return { ...base, primary: cand, rule: 'majority', conflicts: [], reason: `${cand} named by ${voters.join(', ')} (${voters.length}/${n}, ${need} needed) and answers as primary` };
}

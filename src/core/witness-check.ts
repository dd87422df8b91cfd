/**
 * Do the nodes and this proxy agree on the witness? Each node's answer says
 * which witness it is configured with (PGSWARM_WITNESS); a proxy configured
 * differently counts a different number of voters than the nodes' fencing and
 * promotion guard do (a proxy without the witness needs both data nodes of a
 * 2+1 cluster; one with a witness the nodes don't know counts a voter they
 * ignore). Pure: lists the disagreements, the proxy logs them.
 */
import type { AskResult } from './node-answer';

export interface WitnessDisagreement {
  node: string;
  /** What that node is configured with (null: no witness). */
  theirs: string | null;
}

export function witnessDisagreements(configured: string | null, answers: Readonly<Record<string, AskResult | undefined>>): WitnessDisagreement[] {
  const out: WitnessDisagreement[] = [];
  for (const [node, r] of Object.entries(answers)) {
    if (!r || r.kind !== 'ok' || r.answer.witness === undefined) continue; // older nodes do not say
    if (r.answer.witness !== configured) out.push({ node, theirs: r.answer.witness });
  }
  return out.sort((a, b) => a.node.localeCompare(b.node));
}

export function describeDisagreements(configured: string | null, d: readonly WitnessDisagreement[]): string {
  return `PGSWARM_WITNESS differs between this proxy (${configured ?? 'no witness'}) and ${d.map((x) => `${x.node} (${x.theirs ?? 'no witness'})`).join(', ')}: the votes count different voters; give every node, witness and proxy the same PGSWARM_WITNESS`;
}

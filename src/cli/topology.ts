/**
 * Which stack the CLI deploys: the default three data nodes, or the 2+1
 * topology (two data nodes, a witness, strict synchronous mode). Pure.
 */
import { DEFAULT_NODES } from './cluster-secrets';

export interface Topology {
  name: '3' | '2plus1';
  /** Stack file under compose/. */
  file: string;
  /** Services running pgnode as a data node. */
  dataNodes: readonly string[];
  /** Services running pgnode as a witness (PGSWARM_ROLE=witness). */
  witnesses: readonly string[];
}

export const TOPOLOGIES: readonly Topology[] = [
  { name: '3', file: 'stack.yml', dataNodes: DEFAULT_NODES, witnesses: [] },
  { name: '2plus1', file: 'stack-2plus1.yml', dataNodes: ['pgnode1', 'pgnode2'], witnesses: ['pgwitness'] },
];

/** --topology and --file: one topology, or why not. `--file` alone keeps the default topology's service list. */
export function resolveTopology(flags: Record<string, string | boolean>): { topology?: Topology; error?: string } {
  const t = flags.topology;
  if (t === undefined) return { topology: TOPOLOGIES[0] };
  const found = TOPOLOGIES.find((x) => x.name === t);
  if (!found) return { error: `--topology: must be one of ${TOPOLOGIES.map((x) => x.name).join(', ')} (got ${JSON.stringify(t)})` };
  if (typeof flags.file === 'string') return { error: '--topology and --file: give one or the other (--topology picks the stack file)' };
  return { topology: found };
}

/** The topology of a deployed stack, from its service names (so status/logs need no flag). */
export function topologyOfServices(serviceNames: readonly string[], stack: string): Topology {
  const short = serviceNames.map((n) => (n.startsWith(`${stack}_`) ? n.slice(stack.length + 1) : n));
  return TOPOLOGIES.find((t) => t.witnesses.length && t.witnesses.every((w) => short.includes(w))) ?? TOPOLOGIES[0];
}

/** Why `name` cannot be a switchover target in the deployed topology, or null when it can. */
export function notADataNode(t: Topology, name: string, stack: string): string | null {
  if (t.dataNodes.includes(name)) return null;
  return `stack ${stack} (topology ${t.name}) has no data node ${JSON.stringify(name)}${t.witnesses.includes(name) ? ' (it is the witness, which holds no data)' : ''}; one of ${t.dataNodes.join(', ')}`;
}

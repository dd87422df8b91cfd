/**
 * The node agent's life cycle as data: the agent may only move along these
 * edges (it logs and refuses any other), docs/architecture.md's diagram is
 * generated from this table, and a unit test checks every phase is reachable.
 */
export type Phase = 'starting' | 'deciding' | 'waiting' | 'refused' | 'setting-up' | 'running' | 'stopping';

export interface Transition {
  from: Phase | '*';
  to: Phase;
  on: string;
}

export const NODE_TRANSITIONS: readonly Transition[] = [
  { from: 'starting', to: 'deciding', on: 'config valid, files rendered, TLS ready' },
  { from: 'deciding', to: 'waiting', on: 'decision: wait' },
  { from: 'waiting', to: 'deciding', on: 'retry timer' },
  { from: 'deciding', to: 'deciding', on: 'decision: discard-partial' },
  { from: 'deciding', to: 'refused', on: 'decision: refuse (exit 3, data untouched)' },
  { from: 'deciding', to: 'setting-up', on: 'decision: init-primary | clone-standby | rejoin | reclone' },
  { from: 'deciding', to: 'running', on: 'decision: start-primary | start-standby' },
  { from: 'setting-up', to: 'running', on: 'set-up done (marker written)' },
  { from: 'setting-up', to: 'deciding', on: 'set-up step failed: retry' },
  { from: 'running', to: 'deciding', on: 'postgres crashed' },
  { from: '*', to: 'stopping', on: 'SIGTERM / SIGINT' },
];

export const PHASES: readonly Phase[] = ['starting', 'deciding', 'waiting', 'refused', 'setting-up', 'running', 'stopping'];

export function canMove(from: Phase, to: Phase): boolean {
  return NODE_TRANSITIONS.some((t) => (t.from === from || t.from === '*') && t.to === to);
}

/** Mermaid state diagram of the table. */
export function phaseDiagram(): string {
  const lines = ['stateDiagram-v2', '    [*] --> starting'];
  for (const t of NODE_TRANSITIONS) {
    if (t.from === '*') lines.push(`    note right of ${t.to}: from any phase on ${t.on}`);
    else lines.push(`    ${t.from.replace('-', '_')} --> ${t.to.replace('-', '_')}: ${t.on.replace(/:/g, ' -')}`);
  }
  lines.push('    refused --> [*]', '    stopping --> [*]');
  return lines.join('\n');
}

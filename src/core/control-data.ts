import type { ControlData } from './decide-role';

/** Parses `pg_controldata` output (LANG=C). Returns null when a field is missing. */
export function parseControlData(out: string): ControlData | null {
  const field = (label: string) => {
    const m = new RegExp(`^${label.replace(/[()']/g, (c) => `\\${c}`)}:\\s*(.+)$`, 'm').exec(out);
    return m ? m[1].trim() : null;
  };
  const state = field('Database cluster state');
  const tl = field("Latest checkpoint's TimeLineID");
  const sys = field('Database system identifier');
  if (!state || !tl || !sys || !/^\d+$/.test(tl) || !/^\d+$/.test(sys)) return null;
  const minRecoveryTl = field("Min recovery ending loc's timeline");
  const timeline = Math.max(Number(tl), minRecoveryTl && /^\d+$/.test(minRecoveryTl) ? Number(minRecoveryTl) : 0);
  return { state, timeline, systemId: sys };
}

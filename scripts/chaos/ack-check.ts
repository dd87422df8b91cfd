/**
 * Pure: did every acknowledged write survive, exactly once, everywhere?
 * Input: the acknowledged writes (as the clients saw them) and, per node, how
 * many rows each id has there. No I/O; unit-tested in test/unit/chaos-ack-check.test.ts.
 */

/** One acknowledged write: which server (address) and timeline accepted it, and when. */
export interface Ack {
  id: number;
  /** client clock: the write was sent / acknowledged */
  startedAt: number;
  at: number;
  /** server address (inet_server_addr) and timeline of the WAL the row went into */
  srv: string;
  tl: number;
  /** server clock (clock_timestamp() at insert), ms since the epoch; same host clock on a one-node swarm */
  serverAt: number;
  /** which client wrote it (one writer per proxy) */
  writer: string;
}

/** id -> number of rows with that id on one node. */
export type IdCounts = Map<number, number>;

export interface AckCheck {
  acknowledged: number;
  /** acknowledged ids absent from the final primary */
  lost: number[];
  /** per node (primary included): acknowledged ids it does not hold */
  missingByNode: Record<string, number[]>;
  /** per node: ids present more than once */
  duplicatesByNode: Record<string, number[]>;
  /** ids present on the final primary that no client saw acknowledged (in-flight writes; allowed) */
  committedUnacknowledged: number;
}

export function checkAcks(acks: Ack[], primary: string, nodes: Record<string, IdCounts>): AckCheck {
  const missingByNode: Record<string, number[]> = {};
  const duplicatesByNode: Record<string, number[]> = {};
  for (const [node, counts] of Object.entries(nodes)) {
    missingByNode[node] = acks.filter((a) => !counts.has(a.id)).map((a) => a.id);
    duplicatesByNode[node] = [...counts.entries()].filter(([, n]) => n > 1).map(([id]) => id).sort((a, b) => a - b);
  }
  const p = nodes[primary];
  const lost = p ? missingByNode[primary] : acks.map((a) => a.id);
  const ackedIds = new Set(acks.map((a) => a.id));
  const committedUnacknowledged = p ? [...p.keys()].filter((id) => !ackedIds.has(id)).length : 0;
  return { acknowledged: acks.length, lost, missingByNode, duplicatesByNode, committedUnacknowledged };
}

/** Ids acknowledged twice by the clients (a writer bug or a replayed acknowledgement). */
export function duplicateAcks(acks: Ack[]): number[] {
  const seen = new Set<number>();
  const dup = new Set<number>();
  for (const a of acks) (seen.has(a.id) ? dup : seen).add(a.id);
  return [...dup].sort((a, b) => a - b);
}

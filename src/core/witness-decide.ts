/**
 * The witness's start-up decision, as a table of cases (pure). A witness runs
 * its own small PostgreSQL only to hold repmgr's metadata and to be counted;
 * it holds no data, is never promoted, and never takes over a data volume.
 *
 * Observation: what its volume holds (marker, PGDATA, a half-done set-up) and
 * which data node, if any, runs as the only primary right now.
 */

export interface WitnessMarker {
  role?: string;
  registeredWith?: string | null;
}

export interface WitnessObservation {
  /** PGDATA holds any file (lost+found aside). */
  hasPgdata: boolean;
  /** A set-up was interrupted (setup-in-progress exists). */
  inProgress: boolean;
  /** setup-done.json, if any. */
  marker: WitnessMarker | null;
  /** The data node running as the only primary, or null. */
  primary: string | null;
}

export type WitnessDecision =
  | { action: 'refuse'; rule: string; reason: string }
  | { action: 'discard-partial'; rule: string; reason: string }
  | { action: 'init'; rule: string; reason: string }
  | { action: 'register'; rule: string; reason: string; primary: string }
  | { action: 'start'; rule: string; reason: string; register: string | null };

export function decideWitness(o: WitnessObservation): WitnessDecision {
  if (o.marker && o.marker.role !== 'witness') {
    return { action: 'refuse', rule: 'data-volume', reason: `this volume was set up as a data node (marker role ${o.marker.role ?? 'data'}): a witness never takes over, changes or removes a data node's data; give the witness its own volume` };
  }
  if (!o.marker) {
    if (o.hasPgdata && o.inProgress) return { action: 'discard-partial', rule: 'partial-setup', reason: 'an earlier witness set-up was interrupted: moving the half-built PGDATA aside and starting again' };
    if (o.hasPgdata) return { action: 'refuse', rule: 'foreign-pgdata', reason: 'PGDATA holds a cluster this witness did not create (no marker): refusing to touch it; give the witness an empty volume' };
    return { action: 'init', rule: 'empty', reason: 'empty volume: initdb a small metadata-only server for the witness (TLS, hostssl + scram only)' };
  }
  if (!o.marker.registeredWith) {
    if (o.primary) return { action: 'register', rule: 'unregistered', primary: o.primary, reason: `set up but not registered yet: repmgr witness register against the primary ${o.primary}` };
    return { action: 'start', rule: 'unregistered-no-primary', register: null, reason: 'set up but not registered, and no data node runs as primary yet: start (so the proxies can count this witness) and register once a primary appears' };
  }
  if (o.primary) return { action: 'start', rule: 'registered', register: o.primary, reason: `registered witness: start, and refresh the registration against the current primary ${o.primary}` };
  return { action: 'start', rule: 'registered-no-primary', register: null, reason: 'registered witness and no primary right now: start and keep voting; repmgrd follows the new primary' };
}

/**
 * What a witness answers to the proxies' `current-primary`: the primary it
 * sees among the data nodes (the same rules as a data node's answer), but as
 * role=witness, with no timeline, LSN or upstream of its own (it holds no
 * data). The proxies' vote counts it as one voter and never as a candidate.
 */
import type { CurrentPrimary } from './current-primary';

export function asWitnessAnswer(r: CurrentPrimary): CurrentPrimary {
  return { ...r, role: 'witness', timeline: null, lsn: null, upstream: null, reason: `witness: ${r.reason}` };
}

import type { Member } from '../core/node-config';
import { currentPrimary, applySwitchoverHold, CurrentPrimary, SwitchoverHold } from '../core/current-primary';
import { viewMember, probeQuery, probeTarget, ProbeCreds } from './peer-probe';

/** Probes every member (each with its own short timeout), decides, and applies a planned-switchover hold. */
export async function probeCurrentPrimary(self: string, members: readonly Member[], creds: ProbeCreds): Promise<CurrentPrimary> {
  const views = await Promise.all(members.map((m) => viewMember(m, members, creds)));
  const r = currentPrimary(self, views);
  if (!r.primary) return r;
  const m = members.find((x) => x.name === r.primary)!;
  const hold = await probeQuery<SwitchoverHold>(probeTarget(m, creds), creds, 'SELECT target, deadline::text AS deadline FROM pgswarm.switchover WHERE deadline > now()')
    .then((rows) => rows[0], () => undefined); // no registry schema yet: no hold
  return applySwitchoverHold(r, hold ?? null);
}

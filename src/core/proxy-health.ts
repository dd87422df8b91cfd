/**
 * Pure verdict of the proxy's health check over the agent's state file. A proxy that pauses
 * its clients because no primary is known (or during a switchover) is doing its job: it stays
 * healthy. Marking it unhealthy made Swarm restart both proxies during a slow failover and
 * drop them from its DNS, so the nodes could not count them as voters (chaos suite, partition
 * runs: the first write through a proxy 76 s after a promotion at 10 s).
 */
export interface ProxyHealthState {
  updatedAt: number;
  primary: string | null;
  paused: boolean | null;
  bouncerOk: boolean;
}

export function proxyHealth(s: ProxyHealthState | null, now: number, maxAgeMs: number): { ok: boolean; reason: string } {
  if (!s) return { ok: false, reason: 'no state file: the agent has not started' };
  const age = now - s.updatedAt;
  if (!Number.isFinite(age) || age > maxAgeMs) return { ok: false, reason: `state is ${Math.round(age / 1000)} s old: the agent is stuck or gone` };
  if (!s.bouncerOk) return { ok: false, reason: 'PgBouncer does not answer the agent' };
  if (!s.primary) return { ok: true, reason: 'no primary known: clients are paused (the proxy itself works)' };
  if (s.paused) return { ok: true, reason: `routing to ${s.primary}, paused` };
  return { ok: true, reason: `routing to ${s.primary}` };
}

/** Pure verdict of the proxy's health check over the agent's state file. */
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
  if (!s.primary) return { ok: false, reason: 'no primary known: clients are paused' };
  if (s.paused) return { ok: false, reason: `routing to ${s.primary} but paused` };
  return { ok: true, reason: `routing to ${s.primary}` };
}

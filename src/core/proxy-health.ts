/**
 * Pure verdict of the proxy's health, computed by the agent itself and kept in
 * a one-line file (`ok <reason>` / `unhealthy <reason>`) that the container's
 * health check reads with shell builtins only (images/pgproxy/pgproxy-health):
 * no process but sh is started, and the file is written only when it changes.
 *
 * Healthy = PgBouncer runs under the agent and the agent's last interaction
 * with its admin console succeeded. A proxy that pauses its clients because no
 * primary is known (or during a switchover) is doing its job: it stays
 * healthy. Marking it unhealthy made Swarm restart both proxies during a slow
 * failover and drop them from its DNS, so the nodes could not count them as
 * voters (chaos suite, partition runs: the first write through a proxy 76 s
 * after a promotion at 10 s). Liveness of the agent itself needs no file: it
 * is the container's entrypoint, so the container ends with it.
 */
export interface ProxyHealthState {
  /** False while the agent starts or after it stopped. */
  running?: boolean;
  primary: string | null;
  paused: boolean | null;
  /** PgBouncer runs and the last admin-console interaction succeeded. */
  bouncerOk: boolean;
}

export function proxyHealth(s: ProxyHealthState | null): { ok: boolean; reason: string } {
  if (!s) return { ok: false, reason: 'no state: the agent has not started' };
  if (s.running === false) return { ok: false, reason: 'the agent is not running' };
  if (!s.bouncerOk) return { ok: false, reason: 'PgBouncer does not answer the agent' };
  if (!s.primary) return { ok: true, reason: 'no primary known: clients are paused (the proxy itself works)' };
  if (s.paused) return { ok: true, reason: `routing to ${s.primary}, paused` };
  return { ok: true, reason: `routing to ${s.primary}` };
}

/** The health file's single line (newline included); the reason is kept on one line. */
export function healthLine(v: { ok: boolean; reason: string }): string {
  return `${v.ok ? 'ok' : 'unhealthy'} ${v.reason.replace(/[\r\n]+/g, ' ').slice(0, 200)}\n`;
}

export const HEALTH_FILE = 'health';

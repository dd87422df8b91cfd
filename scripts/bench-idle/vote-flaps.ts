/**
 * Proxy decision changes in a time window, from the proxy agent's pino JSON
 * log: it logs one `vote` event (or `split-brain`, when several nodes claim
 * primary) each time its decision changes, and one `node-answer` event each
 * time a node's answer changes (ok, timeout, error…). On an idle healthy
 * cluster none of them should appear.
 */
export interface FlapCount {
  vote: number;
  splitBrain: number;
  nodeAnswer: number;
}

/** Counts the events whose pino `time` lies in [fromMs, toMs]; non-JSON lines are ignored. */
export function countFlaps(logText: string, fromMs: number, toMs: number): FlapCount {
  const c: FlapCount = { vote: 0, splitBrain: 0, nodeAnswer: 0 };
  for (const raw of logText.split('\n')) {
    // `docker logs --timestamps` puts the engine's time in front of the line.
    const start = raw.indexOf('{');
    if (start < 0) continue;
    let e: { event?: unknown; time?: unknown };
    try {
      e = JSON.parse(raw.slice(start));
    } catch {
      continue;
    }
    const at = typeof e.time === 'number' ? e.time : Date.parse(String(e.time));
    if (!Number.isFinite(at) || at < fromMs || at > toMs) continue;
    if (e.event === 'vote') c.vote++;
    else if (e.event === 'split-brain') c.splitBrain++;
    else if (e.event === 'node-answer') c.nodeAnswer++;
  }
  return c;
}

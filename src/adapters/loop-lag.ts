/**
 * How late this process's own timers run (event-loop lag), kept for the last 30 s so that each
 * probe round can ask "how starved was I between its start and now?". One cheap timer (5 per s),
 * no I/O.
 */
export class LoopLag {
  private readonly samples: { at: number; lag: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;

  constructor(private readonly everyMs = 200, private readonly now: () => number = Date.now) {
    this.expected = this.now() + everyMs;
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  private tick(): void {
    const t = this.now();
    this.samples.push({ at: t, lag: Math.max(0, t - this.expected) });
    this.expected = t + this.everyMs;
    while (this.samples.length && t - this.samples[0].at > 30000) this.samples.shift();
  }

  /** Longest lag (ms) observed since `since` (the start of a round), including the pending tick's. */
  maxSince(since: number): number {
    let max = Math.max(0, this.now() - this.expected);
    for (let i = this.samples.length - 1; i >= 0 && this.samples[i].at >= since; i--) max = Math.max(max, this.samples[i].lag);
    return max;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

let shared: LoopLag | undefined;
/** The process's one lag monitor. */
export function loopLag(): LoopLag {
  shared ??= new LoopLag();
  return shared;
}

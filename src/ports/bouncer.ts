/** PgBouncer's admin console, as the proxy agent uses it. */
export type ConsoleRow = Record<string, unknown>;

export interface Bouncer {
  showDatabases(): Promise<ConsoleRow[]>;
  showPools(): Promise<ConsoleRow[]>;
  /** Resolves when PgBouncer acknowledged the pause, or after timeoutMs (the pause stays requested). */
  pause(timeoutMs?: number): Promise<'paused' | 'pending'>;
  /** 'resumed', or 'not-paused' when there was nothing to resume. */
  resume(): Promise<'resumed' | 'not-paused'>;
  reload(): Promise<void>;
}

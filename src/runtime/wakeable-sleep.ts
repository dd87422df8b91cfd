/** A sleep that another event (a crash, a stop request) can end early: `wake()` resolves the current one. */
export class WakeableSleep {
  private waker?: () => void;

  sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.waker = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  wake(): void {
    this.waker?.();
  }
}

/**
 * Reconnect delays: exponential with "full jitter" (a random delay between half and all of the
 * current step), so that thousands of clients cut off at once do not come back at once.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const delay = this.jittered(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return delay;
  }

  /**
   * A delay at the step `next()` last gave, without growing: for a dialler that goes on to another
   * server of the same round (serverList.ts). The backoff then grows once a round, not once an
   * attempt: a dead primary that refuses at once must not double every other wait.
   */
  again(): number {
    return this.jittered(Math.max(0, this.attempt - 1));
  }

  private jittered(attempt: number): number {
    const step = Math.min(this.maxMs, this.baseMs * 2 ** attempt);
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/**
 * Admission control: at most `ratePerSecond` on average, with bursts up to `burst`. Pure: the
 * clock is passed in. A refused caller is told how long to wait, so it can back off sensibly.
 *
 * In a storm, "until the next token" would tell thousands of callers the same few milliseconds and
 * bring them all back together. So each refusal is given its own slot instead: the next one after
 * the last slot handed out, at the admission rate. A caller that comes back at its slot finds a
 * token waiting for it, and the hints spread the retries over the time the backlog needs.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** When the last refused caller was told to come back (ms, the caller's clock). */
  private lastSlot = 0;

  constructor(
    private ratePerSecond: number,
    private burst: number,
    now: number,
    /** The longest wait a hint asks for; a bigger backlog shares the last slot and its jitter. */
    private readonly maxHintMs = 60_000,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  configure(ratePerSecond: number, burst: number): void {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Takes one token; returns 0 when admitted, else the milliseconds the caller should wait. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const nextToken = now + ((1 - this.tokens) / this.ratePerSecond) * 1000;
    this.lastSlot = Math.min(now + this.maxHintMs, Math.max(nextToken, this.lastSlot + 1000 / this.ratePerSecond));
    return Math.max(1, Math.ceil(this.lastSlot - now));
  }

  /** Gives back the token of the last `take` that admitted, when a later check refused the caller. */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}

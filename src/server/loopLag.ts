/**
 * How late this server's event loop runs: the lateness of a 100 ms timer, kept as the worst of
 * the last second. A server whose loop runs seconds late answers everything seconds late; new
 * clients then wait in its queue past their own handshake timeout, retry, and queue again, while
 * the cluster links and the members' client lists wait behind them (a 60,000-client failover on a
 * 2-core machine: docs/benchmarks.md, "Fleet"). Such a server tells new clients to come back later
 * (shedNewClient), which costs it a short HTTP answer instead of a WebSocket, a challenge and a
 * hello timer, and keeps what it already holds going.
 */

/** A loop this late turns new clients away (controls, cluster links and sessions are never turned away). */
export const SHED_LAG_MS = 1000;
/** How often the loop's lateness is sampled, and for how long the worst sample counts. */
const SAMPLE_MS = 100;
const WINDOW_MS = 1000;
/** The wait a turned-away client is told: twice the lag, within these bounds, jittered down by up to half. */
const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 10_000;

/**
 * Whether a new client is turned away at this lag, and the wait it is told. Pure: the lag and a
 * random number in [0, 1) in, a decision out.
 */
export function shedNewClient(
  lagMs: number,
  random: number,
  limitMs = SHED_LAG_MS,
): { retryAfterMs: number } | undefined {
  if (lagMs < limitMs) return undefined;
  const step = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, 2 * lagMs));
  return { retryAfterMs: Math.round(step / 2 + (random * step) / 2) };
}

export class LoopLag {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private peakAt = 0;

  start(): void {
    let expected = Date.now() + SAMPLE_MS;
    this.timer = setInterval(() => {
      const now = Date.now();
      this.note(Math.max(0, now - expected), now);
      expected = now + SAMPLE_MS;
    }, SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The worst lateness of the last second, in ms. */
  get lagMs(): number {
    return Date.now() - this.peakAt > WINDOW_MS ? 0 : this.peak;
  }

  private note(lateness: number, now: number): void {
    if (lateness >= this.peak || now - this.peakAt > WINDOW_MS) {
      this.peak = lateness;
      this.peakAt = now;
    }
  }
}

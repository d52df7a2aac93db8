/**
 * Failed logins lock an account and an address out for a time that doubles with each further
 * failure (1 s, 2 s, 4 s ... up to 15 min), once `freeAttempts` have been used. A success clears
 * the account's count. Pure: the clock is passed in.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; until: number; last: number }>();

  constructor(
    private freeAttempts: number,
    private readonly maxLockMs = 15 * 60_000,
  ) {}

  setFreeAttempts(n: number): void {
    this.freeAttempts = n;
  }

  /** Milliseconds until any of these subjects may try again; 0 when allowed now. */
  lockedFor(subjects: string[], now: number): number {
    let wait = 0;
    for (const s of subjects) {
      const f = this.failures.get(s);
      if (f && f.until > now) wait = Math.max(wait, f.until - now);
    }
    return wait;
  }

  fail(subjects: string[], now: number): void {
    for (const s of subjects) {
      const known = this.failures.get(s);
      // Failures further apart than the longest lock are forgiven: only a run of them locks.
      const f = known && now - known.last <= this.maxLockMs ? known : { count: 0, until: 0, last: now };
      f.count++;
      f.last = now;
      const over = f.count - this.freeAttempts;
      if (over >= 0) f.until = now + Math.min(this.maxLockMs, 1000 * 2 ** over);
      this.failures.set(s, f);
    }
    if (this.failures.size > 100_000) this.prune(now);
  }

  succeed(subject: string): void {
    this.failures.delete(subject);
  }

  private prune(now: number): void {
    for (const [s, f] of this.failures) if (f.until < now - this.maxLockMs) this.failures.delete(s);
  }
}

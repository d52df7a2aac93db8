/** Logins of one account being checked at once; more are refused at once (a person types one at a time). */
export const MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT = 2;
/** Logins from one address being checked at once, whatever the accounts (a few people behind one NAT). */
export const MAX_LOGINS_IN_FLIGHT_PER_ADDRESS = 4;

/** One thing a login is counted against, and how many of its logins may be checked at once. */
export interface LoginSubject {
  id: string;
  maxInFlight: number;
}

export type LoginAdmission =
  { ok: true; finish(succeeded: boolean): void } | { ok: false; lockedForMs: number } | { ok: false; busy: string };

/**
 * Failed logins lock an account and an address out for a time that doubles with each further
 * failure (1 s, 2 s, 4 s ... up to 15 min), once `freeAttempts` have been used. A success clears
 * the account's count. Pure: the clock is passed in.
 *
 * An attempt is counted as a failure when it is admitted (`begin`), before its password is hashed,
 * and given back if it succeeds: attempts made in parallel see each other, so a burst of guesses
 * gets no more tries than the same guesses one after another. Attempts in flight are capped per
 * subject, so the hashing a burst can cause is bounded too.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; until: number; last: number }>();
  private readonly inFlight = new Map<string, number>();

  constructor(
    private freeAttempts: number,
    private readonly maxLockMs = 15 * 60_000,
  ) {}

  /** Admits one attempt against all of `subjects` (counted as failed until `finish(true)`), or says why not. */
  begin(subjects: LoginSubject[], now: number): LoginAdmission {
    const ids = subjects.map((s) => s.id);
    const lockedForMs = this.lockedFor(ids, now);
    if (lockedForMs > 0) return { ok: false, lockedForMs };
    const busy = subjects.find((s) => (this.inFlight.get(s.id) ?? 0) >= s.maxInFlight);
    if (busy) return { ok: false, busy: busy.id };
    this.fail(ids, now);
    for (const id of ids) this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    let finished = false;
    return {
      ok: true,
      finish: (succeeded) => {
        if (finished) return;
        finished = true;
        for (const id of ids) {
          const n = (this.inFlight.get(id) ?? 1) - 1;
          if (n > 0) this.inFlight.set(id, n);
          else this.inFlight.delete(id);
          if (succeeded) this.giveBack(id);
        }
      },
    };
  }

  /** Attempts of this subject being checked now. */
  inFlightFor(id: string): number {
    return this.inFlight.get(id) ?? 0;
  }

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

  /** Undoes one failure counted by `begin` for an attempt that turned out right. */
  private giveBack(subject: string): void {
    const f = this.failures.get(subject);
    if (!f) return;
    f.count--;
    if (f.count <= 0) this.failures.delete(subject);
    // The lock this attempt's own count set is lifted; one earned by the failures before it stays.
    else if (f.count < this.freeAttempts) f.until = 0;
  }

  private prune(now: number): void {
    for (const [s, f] of this.failures) if (f.until < now - this.maxLockMs) this.failures.delete(s);
  }
}

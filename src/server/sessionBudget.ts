import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';

export interface SessionLimits {
  /** Sessions held at once: opening, offered with the ticket not yet presented, or running. */
  open: number;
  /** Of those, the ones not yet claimed (opening, or offered and waiting for their ticket). */
  unclaimed: number;
}

/**
 * What one control channel (or one operator on the API) may hold. Every session holds a data
 * connection and a local socket on the client, so without a bound one caller could take all of the
 * client's file descriptors; unclaimed ones do nobody any good, so they get the smaller share.
 */
export const CONTROL_SESSION_LIMITS: SessionLimits = Object.freeze({ open: 64, unclaimed: 16 });

/** Sessions a server lets one client hold at once, whoever opened them. */
export const MAX_SESSIONS_PER_CLIENT = 256;

/** A session's place in a budget: claimed once its ticket is presented, released when it ends. */
export interface SessionSlot {
  claimed(): void;
  release(): void;
}

/** Counts one caller's sessions and refuses, with TOO_MANY_SESSIONS, past its limits. */
export class SessionBudget {
  private open = 0;
  private unclaimed = 0;

  constructor(
    readonly limits: SessionLimits,
    /** Who the budget is for, as the refusal names it ("this control", "operator ops"). */
    private readonly who: string,
  ) {}

  take(): SessionSlot {
    if (this.unclaimed >= this.limits.unclaimed) {
      throw new SwitchboardError(
        ErrorCodes.TOO_MANY_SESSIONS,
        `${this.who} has ${this.unclaimed} sessions opening or not yet claimed (at most ${this.limits.unclaimed}): claim or close some first`,
      );
    }
    if (this.open >= this.limits.open)
      throw new SwitchboardError(
        ErrorCodes.TOO_MANY_SESSIONS,
        `${this.who} has ${this.open} sessions open (at most ${this.limits.open})`,
      );
    this.open++;
    this.unclaimed++;
    let claimed = false;
    let released = false;
    return {
      claimed: () => {
        if (claimed || released) return;
        claimed = true;
        this.unclaimed--;
      },
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        if (!claimed) this.unclaimed--;
      },
    };
  }
}

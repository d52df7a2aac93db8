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

/**
 * One budget per operator name, made at its first use: a script with many tokens still shares its
 * operator's budget. Each REST route that opens sessions (exec, files) keeps one of these.
 */
export function operatorBudgets(limits: SessionLimits = CONTROL_SESSION_LIMITS): (operator: string) => SessionBudget {
  const budgets = new Map<string, SessionBudget>();
  return (name) => {
    let budget = budgets.get(name);
    if (!budget) budgets.set(name, (budget = new SessionBudget(limits, `operator ${name}`)));
    return budget;
  };
}

/**
 * Sessions one operator may hold at once, by kind, over all of its control channels and the API
 * together (a control channel's own budget above bounds one channel; an operator may open many).
 * The bound follows what a session costs the client and the server: a forward or a proxied web
 * request is a socket; a shell is a process with a PTY; a desktop streams a screen; a file transfer
 * holds a disk and a file open. A kind without an entry (added later) still gets a bound.
 */
export const OPERATOR_KIND_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  forward: 1024,
  web: 256,
  exec: 64,
  shell: 16,
  files: 16,
  desktop: 8,
});
export const DEFAULT_KIND_LIMIT = 16;

/** Counts each operator's sessions by kind and refuses, with TOO_MANY_SESSIONS, past its kind's limit. */
export class OperatorSessions {
  private readonly held = new Map<string, Map<string, number>>();

  constructor(
    private readonly limits: Readonly<Record<string, number>> = OPERATOR_KIND_LIMITS,
    private readonly fallback = DEFAULT_KIND_LIMIT,
  ) {}

  limitOf(kind: string): number {
    return Object.hasOwn(this.limits, kind) ? this.limits[kind]! : this.fallback;
  }

  /** Sessions of this kind the operator holds now. */
  count(operator: string, kind: string): number {
    return this.held.get(operator)?.get(kind) ?? 0;
  }

  /** Takes a place for one session; the returned function gives it back (once, however often called). */
  take(operator: string, kind: string): () => void {
    const limit = this.limitOf(kind);
    const kinds = this.held.get(operator) ?? new Map<string, number>();
    const now = kinds.get(kind) ?? 0;
    if (now >= limit)
      throw new SwitchboardError(
        ErrorCodes.TOO_MANY_SESSIONS,
        `operator ${operator} has ${now} ${kind} sessions open (at most ${limit} per operator): close one first`,
      );
    kinds.set(kind, now + 1);
    this.held.set(operator, kinds);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (kinds.get(kind) ?? 1) - 1;
      if (left > 0) kinds.set(kind, left);
      else kinds.delete(kind);
      // Forget an operator with nothing open: names of departed operators must not pile up.
      if (kinds.size === 0 && this.held.get(operator) === kinds) this.held.delete(operator);
    };
  }
}

/** A channel's slot that also gives back the operator's place for the session's kind when released. */
export function withOperatorPlace(slot: SessionSlot, releasePlace: () => void): SessionSlot {
  return {
    claimed: () => slot.claimed(),
    release: () => {
      slot.release();
      releasePlace();
    },
  };
}

/** `--session-limit shell=4,exec=32`: kinds and their per-operator limits (whole numbers, 1 or more). */
export function parseKindLimits(text: string): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^([a-z][a-z0-9-]{0,31})=(\d{1,7})$/.exec(part);
    if (!match || Number(match[2]) < 1)
      throw new Error(
        `--session-limit takes KIND=N[,KIND=N...] with N a whole number of at least 1 (got ${JSON.stringify(part)})`,
      );
    limits[match[1]!] = Number(match[2]);
  }
  return limits;
}

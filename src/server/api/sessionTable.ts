import { createHash, randomBytes } from 'node:crypto';
import type { GrantedLogin } from '../credentialStamp.js';

export interface SessionLimits {
  /** A session ends this long after login, used or not. */
  maxAgeMs: number;
  /** ... or this long after its last use. */
  idleMs: number;
  /** Oldest sessions are dropped beyond this many, so logins cannot grow memory without bound. */
  maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxAgeMs: 12 * 3600_000,
  idleMs: 30 * 60_000,
  maxSessions: 10_000,
};

export interface WebSession {
  operator: string;
  /** Sent back by the console on every change it makes while authenticated by cookie. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
  /** The operator's credential stamp at login (credentialStamp.ts): a change ends the session. */
  stamp: string;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Logged-in API sessions, in memory on the acting primary (a failover asks operators to log in
 * again; sessions never replicate). Tokens are kept only as hashes, so a heap dump does not hand
 * them out. The clock is passed in: expiry is a pure decision.
 */
export class SessionTable {
  private readonly sessions = new Map<string, WebSession>();

  constructor(readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS) {}

  get size(): number {
    return this.sessions.size;
  }

  create(operator: string, now: number, stamp = ''): { token: string; session: WebSession } {
    const token = randomBytes(32).toString('base64url');
    const session = { operator, csrf: randomBytes(24).toString('base64url'), createdAt: now, lastSeen: now, stamp };
    this.sessions.set(digest(token), session);
    // Map iteration is insertion order: the first entries are the oldest logins.
    for (const id of this.sessions.keys()) {
      if (this.sessions.size <= this.limits.maxSessions) break;
      this.sessions.delete(id);
    }
    return { token, session };
  }

  expiresAt(session: WebSession): number {
    return Math.min(session.createdAt + this.limits.maxAgeMs, session.lastSeen + this.limits.idleMs);
  }

  /** The live session for a token, marked as used now; undefined when unknown or expired. */
  touch(token: string, now: number): WebSession | undefined {
    const id = digest(token);
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (now >= this.expiresAt(session)) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  /** Whether the session is still live, without counting this as a use. */
  live(token: string, now: number): boolean {
    const session = this.sessions.get(digest(token));
    return session !== undefined && now < this.expiresAt(session);
  }

  /** What a session is kept under (its token's hash): for what must end with it without keeping its token. */
  static idOf(token: string): string {
    return digest(token);
  }

  /** Whether the session kept under this id is live, without counting this as a use. */
  liveById(id: string, now: number): boolean {
    const session = this.sessions.get(id);
    return session !== undefined && now < this.expiresAt(session);
  }

  end(token: string): boolean {
    return this.sessions.delete(digest(token));
  }

  /** Ends every session of an operator (removed, or its password changed). */
  endOperator(name: string): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (s.operator === name) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Ends every session whose login no longer holds (`why` names the reason); returns how many. */
  revokeStale(why: (login: GrantedLogin) => string | undefined): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (why(s) === undefined) continue;
      this.sessions.delete(id);
      n++;
    }
    return n;
  }

  prune(now: number): void {
    for (const [id, s] of this.sessions) if (now >= this.expiresAt(s)) this.sessions.delete(id);
  }
}

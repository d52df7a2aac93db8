import { randomBytes } from 'node:crypto';
import { csrfOf, issueToken, tokenId, tokenOperator, verifyToken } from './sessionToken.js';
import { openTicket, RedeemedTickets, sealTicket } from './handoverTicket.js';
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

/**
 * What a session table needs beyond its own memory: the key tokens are signed with, the operators'
 * credential stamps now, and the replicated logout list (sessionToken.ts, configStore addLogout).
 */
export interface SessionAuthority {
  key: Buffer;
  /** The operator's credential stamp as the store has it now; undefined when there is no such operator. */
  stampOf(operator: string): string | undefined;
  loggedOut(id: string): boolean;
  logOut(id: string, expiresAt: number): void;
}

/** Alone (unit tests, no store): a random key, only sessions made here, logouts in memory. */
export function localAuthority(): SessionAuthority {
  const out = new Set<string>();
  return {
    key: randomBytes(32),
    stampOf: () => undefined,
    loggedOut: (id) => out.has(id),
    logOut: (id) => void out.add(id),
  };
}

/**
 * Logged-in API sessions. A token is signed (sessionToken.ts), so any server of the cluster that
 * is asked with one it has not seen (the secondary after a failover, the primary after failback)
 * verifies it and takes the session in; a logout is recorded in the replicated store, so it holds
 * on every server. What stays per server is the idle clock: a session taken in starts it afresh
 * (its absolute age, from the login, holds everywhere). Sessions are kept by the token's hash, so a
 * heap dump does not hand tokens out. The clock is passed in: expiry is a pure decision.
 */
export class SessionTable {
  private readonly sessions = new Map<string, WebSession>();
  /**
   * Why sessions ended by a revocation did (by id, as many as sessions are kept): a token presented
   * after the sweep ended it is told the reason, not that it is unknown. Only ids of sessions held
   * here get in, so a forged token learns nothing.
   */
  private readonly ended = new Map<string, string>();
  private readonly redeemed = new RedeemedTickets();

  constructor(
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly authority: SessionAuthority = localAuthority(),
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  create(operator: string, now: number, stamp = ''): { token: string; session: WebSession } {
    const { token } = issueToken(this.authority.key, operator, stamp, now);
    const session = { operator, csrf: csrfOf(this.authority.key, token), createdAt: now, lastSeen: now, stamp };
    this.keep(tokenId(token), session);
    return { token, session };
  }

  private keep(id: string, session: WebSession): void {
    setBounded(this.sessions, id, session, this.limits.maxSessions);
  }

  /** A token issued by another server of the cluster (or by this one before a restart), taken in if it holds. */
  private adopt(id: string, token: string, now: number): WebSession | undefined {
    const claims = verifyToken(this.authority.key, token, (op) => this.authority.stampOf(op));
    if (!claims || now >= claims.createdAt + this.limits.maxAgeMs) return undefined;
    const session = {
      operator: claims.operator,
      csrf: csrfOf(this.authority.key, token),
      createdAt: claims.createdAt,
      lastSeen: now,
      stamp: claims.stamp,
    };
    this.keep(id, session);
    return session;
  }

  expiresAt(session: WebSession): number {
    return Math.min(session.createdAt + this.limits.maxAgeMs, session.lastSeen + this.limits.idleMs);
  }

  /** The live session for a token, marked as used now; undefined when unknown, expired or logged out. */
  touch(token: string, now: number): WebSession | undefined {
    const id = tokenId(token);
    if (this.authority.loggedOut(id)) {
      this.sessions.delete(id);
      return undefined;
    }
    const session = this.sessions.get(id) ?? this.adopt(id, token, now);
    if (!session) return undefined;
    if (now >= this.expiresAt(session)) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  /** A console handover ticket for a live session (handoverTicket.ts): any server of the cluster takes it once. */
  handoverTicket(token: string, now: number): { ticket: string; expiresAt: number } {
    return sealTicket(this.authority.key, token, now);
  }

  /**
   * The session a handover ticket carries, taken in as a use; undefined when the ticket does not
   * open (expired, taken, not this cluster's); without `session`, with why, when it opens but its
   * session no longer holds.
   */
  redeem(
    ticket: string,
    now: number,
  ): { token: string; session: WebSession } | { token: string; session?: undefined; ended: string } | undefined {
    const token = openTicket(this.authority.key, ticket, now);
    if (token === undefined || !this.redeemed.take(ticket, now)) return undefined;
    const session = this.touch(token, now);
    return session ? { token, session } : { token, ended: this.whyEnded(token) };
  }

  /**
   * Why the session of a token this cluster issued (a ticket's) no longer holds here, in the words
   * of credentialStamp.ts revokedBecause where it is that.
   */
  private whyEnded(token: string): string {
    if (this.authority.loggedOut(tokenId(token))) return 'that session was logged out; log in';
    const operator = tokenOperator(token);
    if (operator !== undefined) {
      if (this.authority.stampOf(operator) === undefined) return `operator ${operator} was removed`;
      if (!verifyToken(this.authority.key, token, (op) => this.authority.stampOf(op)))
        return `operator ${operator}'s password or TOTP changed: log in again`;
    }
    return 'that session expired; log in';
  }

  /** Whether the session is still live, without counting this as a use. */
  live(token: string, now: number): boolean {
    const id = tokenId(token);
    const session = this.sessions.get(id);
    return session !== undefined && now < this.expiresAt(session) && !this.authority.loggedOut(id);
  }

  /** What a session is kept under (its token's hash): for what must end with it without keeping its token. */
  static idOf(token: string): string {
    return tokenId(token);
  }

  /** Whether the session kept under this id is live, without counting this as a use. */
  liveById(id: string, now: number): boolean {
    const session = this.sessions.get(id);
    return session !== undefined && now < this.expiresAt(session) && !this.authority.loggedOut(id);
  }

  /** Logs a session out, here and (through the replicated store) on every server. */
  end(token: string): boolean {
    const id = tokenId(token);
    const session = this.sessions.get(id);
    const createdAt =
      session?.createdAt ?? verifyToken(this.authority.key, token, (op) => this.authority.stampOf(op))?.createdAt;
    this.sessions.delete(id);
    if (createdAt === undefined) return false;
    this.authority.logOut(id, createdAt + this.limits.maxAgeMs);
    return true;
  }

  /** Drops a session from this server's memory only: its login no longer holds anywhere (credentialStamp.ts). */
  /** Ends the session of this token; with a reason, a later use of it is told that reason. */
  forget(token: string, reason?: string): void {
    const id = tokenId(token);
    this.sessions.delete(id);
    if (reason !== undefined) this.remember(id, reason);
  }

  /** Why a revocation ended this token's session, if one did (the sweep, or a request that found it revoked). */
  endedBecause(token: string): string | undefined {
    return this.ended.get(tokenId(token));
  }

  private remember(id: string, reason: string): void {
    setBounded(this.ended, id, reason, this.limits.maxSessions);
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
      const reason = why(s);
      if (reason === undefined) continue;
      this.sessions.delete(id);
      this.remember(id, reason);
      n++;
    }
    return n;
  }

  prune(now: number): void {
    for (const [id, s] of this.sessions) if (now >= this.expiresAt(s)) this.sessions.delete(id);
  }
}

/** Sets, then drops the oldest entries beyond `max` (a Map iterates in insertion order). */
function setBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.set(key, value);
  for (const old of map.keys()) {
    if (map.size <= max) break;
    map.delete(old);
  }
}

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { VisibleKeys } from './controlOps.js';

/** What a web link opens, and for whom. */
export interface WebLinkTarget {
  operator: string;
  keys: VisibleKeys;
  clientId: string;
  clientName: string;
  port: number;
  /** Whether the operator's console session that made the link still holds (logout, expiry, revocation end it). */
  alive(): boolean;
}

export interface WebLink extends WebLinkTarget {
  /** The link's own host label (`<label>.<proxy host>`): one origin per link, so links cannot read each other. */
  label: string;
  createdAt: number;
  /** Presented once, in the entry URL, within ENTRY_TTL_MS; then never again. */
  entrySecret: string | undefined;
  /** The cookie the entry sets on the link's origin: every later request carries it. */
  cookieSecret: string;
}

export interface WebLinkLimits {
  perOperator: number;
  total: number;
  /** The entry URL works this long after the link is made. */
  entryTtlMs: number;
}

export const DEFAULT_WEB_LINK_LIMITS: WebLinkLimits = { perOperator: 32, total: 4096, entryTtlMs: 60_000 };

const secret = () => randomBytes(24).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The web links of a server, in memory (like console sessions, they end with a failover). A link
 * is a capability for one client's port, held by a browser as a cookie on the link's own origin;
 * it lives no longer than the console session that made it, and is checked at every request.
 */
export class WebLinks {
  private readonly links = new Map<string, WebLink>();

  constructor(
    private readonly limits: WebLinkLimits = DEFAULT_WEB_LINK_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.links.size;
  }

  create(target: WebLinkTarget): WebLink {
    this.sweep();
    const mine = [...this.links.values()].filter((l) => l.operator === target.operator);
    // The oldest go first: an operator opening page after page is never stuck, and never holds more.
    for (const old of mine.slice(0, Math.max(0, mine.length - this.limits.perOperator + 1)))
      this.links.delete(old.label);
    if (this.links.size >= this.limits.total)
      throw new SwitchboardError(
        ErrorCodes.TOO_MANY_SESSIONS,
        `this server holds ${this.links.size} web links (at most ${this.limits.total}); try again later`,
      );
    const link: WebLink = {
      ...target,
      label: randomBytes(16).toString('hex'),
      createdAt: this.now(),
      entrySecret: secret(),
      cookieSecret: secret(),
    };
    this.links.set(link.label, link);
    return link;
  }

  has(label: string): boolean {
    return this.links.has(label);
  }

  /** The live link with this label, or undefined (unknown, or its session ended: then it is forgotten). */
  find(label: string): WebLink | undefined {
    const link = this.links.get(label);
    if (link && !link.alive()) {
      this.links.delete(label);
      return undefined;
    }
    return link;
  }

  /** Trades the one-time entry secret for the cookie secret; undefined when wrong, used or late. */
  enter(link: WebLink, presented: string): string | undefined {
    const expected = link.entrySecret;
    if (!expected || this.now() - link.createdAt > this.limits.entryTtlMs || !sameSecret(presented, expected))
      return undefined;
    link.entrySecret = undefined;
    return link.cookieSecret;
  }

  /** Whether a request's cookie is the link's. */
  admits(link: WebLink, cookie: string | undefined): boolean {
    return cookie !== undefined && sameSecret(cookie, link.cookieSecret);
  }

  /** Forgets links whose session ended; returns their labels (their open connections are closed by the caller). */
  sweep(): string[] {
    const ended: string[] = [];
    for (const [label, link] of this.links)
      if (!link.alive()) {
        this.links.delete(label);
        ended.push(label);
      }
    return ended;
  }
}

import { createHash } from 'node:crypto';
import { seal, unseal } from '../../protocol/sealed.js';

/**
 * Console handover tickets: how a console page carries its login to another server of the cluster
 * when the server it came from is gone (the primary died, or it came back and the secondary stepped
 * down). The session cookie is HttpOnly and belongs to one origin, so the page cannot take it along;
 * instead, while connected, it keeps a ticket: the session token sealed (AES-256-GCM) under a key
 * derived from the cluster's session key, with an expiry. The page moves to the other server with the
 * ticket in the URL's fragment (never sent in a request, so never in a server's or a proxy's log),
 * and that server opens it and sets its own cookie for the same session: same expiry, and a logout
 * anywhere ends it everywhere. A ticket lives two minutes and each server takes it once; what it
 * holds is readable only by the cluster's servers. docs/security.md weighs the design.
 */
export const HANDOVER_TTL_MS = 120_000;
const NONCE = 'switchboard-console-handover';
const PURPOSE = 'handover-v1';

export function sealTicket(key: Buffer, token: string, now: number): { ticket: string; expiresAt: number } {
  const expiresAt = now + HANDOVER_TTL_MS;
  return { ticket: seal(key.toString('hex'), NONCE, PURPOSE, { t: token, e: expiresAt }), expiresAt };
}

/** The session token a ticket carries, if it was sealed with this key and has not expired. */
export function openTicket(key: Buffer, ticket: string, now: number): string | undefined {
  let value: unknown;
  try {
    value = unseal(key.toString('hex'), NONCE, PURPOSE, ticket);
  } catch {
    return undefined;
  }
  const { t, e } = (value ?? {}) as { t?: unknown; e?: unknown };
  if (typeof t !== 'string' || typeof e !== 'number' || now >= e) return undefined;
  return t;
}

/**
 * The tickets this server has taken, each until it expires, so that one is taken once. Bounded: past
 * `max` the oldest are dropped; only tickets the cluster sealed get this far, so reaching it takes
 * that many handovers within two minutes.
 */
export class RedeemedTickets {
  private readonly taken = new Map<string, number>();

  constructor(private readonly max = 10_000) {}

  /** Records the ticket as taken now; false when it already was. */
  take(ticket: string, now: number): boolean {
    for (const [id, until] of this.taken) if (now >= until) this.taken.delete(id);
    const id = createHash('sha256').update(ticket).digest('hex');
    if (this.taken.has(id)) return false;
    this.taken.set(id, now + HANDOVER_TTL_MS);
    for (const old of this.taken.keys()) {
      if (this.taken.size <= this.max) break;
      this.taken.delete(old);
    }
    return true;
  }
}

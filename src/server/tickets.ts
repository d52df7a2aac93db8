import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';

interface Waiting {
  onSocket: (socket: Duplex, head: Buffer) => void;
  timer: NodeJS.Timeout;
}

/**
 * Single-use, short-lived tickets that pair a data connection with the session that expects it.
 * A ticket is 192 random bits; it is deleted the moment it is used or expires, so a replay finds
 * nothing.
 */
export class TicketTable {
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.waiting.size;
  }

  issue(onSocket: Waiting['onSocket'], onExpire: () => void): string {
    const ticket = randomBytes(24).toString('base64url');
    const timer = setTimeout(() => {
      this.waiting.delete(ticket);
      onExpire();
    }, this.ttlMs);
    timer.unref();
    this.waiting.set(ticket, { onSocket, timer });
    return ticket;
  }

  /** Takes the ticket (once): returns whoever waits for its socket, or undefined if unknown or used. */
  take(ticket: string): Waiting['onSocket'] | undefined {
    const entry = this.waiting.get(ticket);
    if (!entry) return undefined;
    this.waiting.delete(ticket);
    clearTimeout(entry.timer);
    return entry.onSocket;
  }

  /** Withdraws a ticket that is no longer wanted (the session was refused or cancelled). */
  cancel(ticket: string): void {
    const entry = this.waiting.get(ticket);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.waiting.delete(ticket);
  }

  clear(): void {
    for (const entry of this.waiting.values()) clearTimeout(entry.timer);
    this.waiting.clear();
  }
}

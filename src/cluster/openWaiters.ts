import { ErrorCodes, fromWireError, SwitchboardError, type WireError } from '../protocol/errors.js';

interface OpenWaiter {
  member: string;
  resolve: (ticket: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The primary's session opens in flight: each asked of a member on its link (`open` with a request
 * number) and settled by its answer (`opened` with a ticket, or `open-failed`), by the member's
 * link going away, or by a timeout.
 */
export class OpenWaiters {
  private readonly waiting = new Map<number, OpenWaiter>();
  private nextReq = 1;

  constructor(private readonly timeoutMs: number) {}

  /** Sends the request (its number given to `send`) and waits for the member's ticket. */
  wait(member: string, send: (req: number) => void): Promise<string> {
    const req = this.nextReq++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req);
        reject(new SwitchboardError(ErrorCodes.SESSION_TIMEOUT, `server ${member} did not open the session in time`));
      }, this.timeoutMs);
      this.waiting.set(req, { member, resolve, reject, timer });
      send(req);
    });
  }

  /** The member's answer; one from another member than the one asked is ignored. */
  settle(req: number, result: { ticket: string } | { error: WireError }, from: string): void {
    const waiter = this.waiting.get(req);
    if (!waiter || waiter.member !== from) return;
    this.waiting.delete(req);
    clearTimeout(waiter.timer);
    if ('ticket' in result) waiter.resolve(result.ticket);
    // A member relays its client's refusal already mapped (clientRefusal); a code that is not ours is not passed on.
    else waiter.reject(fromWireError(result.error));
  }

  /** The member's link is gone: what was asked of it fails now, not at its timeout. */
  memberGone(member: string): void {
    for (const [req, waiter] of this.waiting) {
      if (waiter.member !== member) continue;
      this.settle(req, { error: { code: ErrorCodes.UNREACHABLE, message: `server ${member} went away` } }, member);
    }
  }
}

import type { ServerResponse } from 'node:http';

export interface StreamLimits {
  /** A reader with more than this left unread when the next batch is due is behind... */
  behindBytes: number;
  /** ...and is dropped once it has been behind for this long. */
  graceMs: number;
  /** A backlog past this is dropped at once, however recently it fell behind. */
  maxBytes: number;
}

/**
 * A reader is judged by what it leaves unread over seconds, not within one turn of the event loop:
 * a member re-linking sends its whole list, and 12,000 clients listed again in one turn are 3 MB of
 * events, more than any reader can take before the turn ends. At 1 MB judged at each write, every
 * console was cut by such a burst and reloaded the whole list (13 MB at 60,000 clients). The hard
 * limit holds two such bursts and more unread; it is per stream, and an operator's streams are
 * not counted (docs/security.md, known limits).
 */
export const STREAM_LIMITS: StreamLimits = { behindBytes: 1024 * 1024, graceMs: 10_000, maxBytes: 8 * 1024 * 1024 };

/**
 * One Server-Sent Events answer, written to by the event hub and a keepalive timer. The events of
 * one turn of the event loop leave in one write: a burst of thousands is one chunk and a few system
 * calls, not one of each per event. A reader that stays behind (a console whose page stalls while a
 * fleet arrives) is dropped: destroyed, not ended, so its backlog is freed now and 'close'
 * unsubscribes it; the browser's EventSource reconnects and reloads. Once dropped or ended, writes
 * are ignored: a write after the end emits an 'error' that nothing handles, and that took the whole
 * primary down (60,000 clients, 1,000 arrivals a second).
 */
export class EventStream {
  private pending: string[] = [];
  /** The length of `pending`, in characters (the events are ASCII JSON but for names). */
  private pendingSize = 0;
  private behindFrom: number | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: StreamLimits = STREAM_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** Since when the reader has been behind (by the stream's clock), if it is. */
  get behindSince(): number | undefined {
    return this.behindFrom;
  }

  write(text: string): void {
    if (!this.open) return;
    this.pending.push(text);
    this.pendingSize += text.length;
    if (this.res.writableLength + this.pendingSize > this.limits.maxBytes) return this.drop();
    // The first of a turn schedules the write; every flush and drop empties `pending`.
    if (this.pending.length === 1) setImmediate(() => this.flush());
  }

  end(): void {
    if (!this.open) return;
    this.flush();
    if (this.open) this.res.end();
  }

  private flush(): void {
    if (!this.open || this.pending.length === 0) return;
    if (this.res.writableLength > this.limits.behindBytes) {
      this.behindFrom ??= this.now();
      if (this.now() - this.behindFrom >= this.limits.graceMs) return this.drop();
    } else this.behindFrom = undefined;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingSize = 0;
    this.res.write(text);
  }

  private drop(): void {
    this.pending = [];
    this.pendingSize = 0;
    this.res.destroy();
  }
}

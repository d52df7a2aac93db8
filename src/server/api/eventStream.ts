import type { ServerResponse } from 'node:http';

/** A stream that falls this far behind is dropped; the browser's EventSource reconnects and reloads. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * One Server-Sent Events answer, written to by the event hub and a keepalive timer. A reader that
 * falls more than `maxBuffered` bytes behind (a console whose page stalls while a fleet arrives) is
 * dropped at once: destroyed, not ended, so its backlog is freed now and 'close' unsubscribes it.
 * Once dropped or ended, writes are ignored: a write after the end emits an 'error' that nothing
 * handles, and that took the whole primary down (60,000 clients, 1,000 arrivals a second).
 */
export class EventStream {
  constructor(
    private readonly res: ServerResponse,
    private readonly maxBuffered = MAX_BUFFERED_BYTES,
  ) {}

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  write(text: string): void {
    if (!this.open) return;
    if (this.res.writableLength > this.maxBuffered) this.res.destroy();
    else this.res.write(text);
  }

  end(): void {
    if (this.open) this.res.end();
  }
}

import type { Logger } from './logger.js';

/**
 * A warning that may fire thousands of times a second (a full server, a reconnect storm) is logged
 * at most once per interval, saying how many times it happened since the last line. Counting each
 * occurrence is the metrics' job; the log says that it happens.
 */
export class ThrottledWarning {
  private lastAt = -Infinity;
  private since = 0;

  constructor(
    private readonly logger: Logger,
    private readonly msg: string,
    private readonly intervalMs = 10_000,
  ) {}

  /** One occurrence; true if it was logged. */
  hit(fields: object, now = Date.now()): boolean {
    this.since++;
    if (now - this.lastAt < this.intervalMs) return false;
    this.logger.warn({ ...fields, occurrences: this.since, intervalMs: this.intervalMs }, this.msg);
    this.lastAt = now;
    this.since = 0;
    return true;
  }
}

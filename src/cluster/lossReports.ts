/**
 * How long a member's word that it lost the primary stands in for its answer to a probe: as long as
 * a probe may take (the cluster call's timeout), so a report is never older than an answer could be.
 */
export const LOSS_REPORT_VALID_MS = 3000;

/**
 * What the secondary heard from members that lost their link to the primary (the `primary-lost`
 * call): the answer its election would have asked them for. When a fleet's primary dies, its
 * clients flood the members, and a probe of a member waited behind them in its accept queue until
 * the call timed out (3 s), which delayed every takeover by as much; the member's own call to the
 * secondary, made the moment its link dropped, does not wait there.
 */
export class LossReports {
  private readonly reports = new Map<string, { at: number; epoch: number }>();
  private readonly waiting = new Map<string, Set<(epoch: number) => void>>();

  constructor(
    private readonly validMs = LOSS_REPORT_VALID_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** `from` has just lost its link to the primary; it follows epoch `epoch`. */
  report(from: string, epoch: number): void {
    this.reports.set(from, { at: this.now(), epoch });
    const waiters = this.waiting.get(from);
    this.waiting.delete(from);
    for (const resolve of waiters ?? []) resolve(epoch);
  }

  /** The epoch `from` reported with, if its report is recent enough to count. */
  recent(from: string): number | undefined {
    const report = this.reports.get(from);
    return report && this.now() - report.at <= this.validMs ? report.epoch : undefined;
  }

  /** Resolves with the epoch of the next report from `from`; `cancel` stops waiting (never resolves then). */
  next(from: string): { reported: Promise<number>; cancel(): void } {
    let waiter!: (epoch: number) => void;
    const reported = new Promise<number>((resolve) => (waiter = resolve));
    const waiters = this.waiting.get(from) ?? new Set();
    waiters.add(waiter);
    this.waiting.set(from, waiters);
    return {
      reported,
      cancel: () => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.waiting.get(from) === waiters) this.waiting.delete(from);
      },
    };
  }
}

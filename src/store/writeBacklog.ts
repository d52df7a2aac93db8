/**
 * Writes the server makes as a side effect of traffic (audit records, its own meta values) that the
 * store could not take, e.g. because the data directory's disk is full. A full disk must not stop
 * relaying, so these writes never fail the traffic that caused them; they wait here instead, and the
 * store retries them (configStore.ts). This file holds the rule, without any I/O:
 *
 * - Audit records wait in arrival order, at most BACKLOG_MAX_AUDIT_RECORDS of them; beyond that the
 *   oldest is dropped and counted. While any write waits, new ones queue behind it, so the audit
 *   log keeps its order and a full disk costs no failing write per event.
 * - Meta values keep only the latest value per name (a handful of names, all chosen by the code).
 * - The store retries everything in one transaction every BACKLOG_RETRY_MS until it succeeds.
 * - Trouble is reported once when it starts, then at most once per BACKLOG_REPORT_EVERY_MS, and once
 *   when it ends: a log line per interval, never per event.
 */

/** About 3 MB at the usual ~300 bytes a record: bounded whatever a stranger sends. */
export const BACKLOG_MAX_AUDIT_RECORDS = 10_000;
export const BACKLOG_RETRY_MS = 5_000;
export const BACKLOG_REPORT_EVERY_MS = 60_000;

export interface PendingAudit {
  at: string;
  actor: string;
  action: string;
  /** JSON text, as stored. */
  detail: string;
}

export type BacklogReport =
  | {
      state: 'failing';
      error: string;
      pendingAudit: number;
      pendingMeta: number;
      deferredSinceReport: number;
      droppedSinceReport: number;
    }
  | { state: 'recovered'; written: number; dropped: number };

/** Cumulative counts, for /metrics. */
export interface BacklogStats {
  /** Audit records that could not be written when they happened. */
  auditDeferred: number;
  /** Audit records lost because the backlog was full. */
  auditDropped: number;
  pendingAudit: number;
  pendingMeta: number;
}

export class WriteBacklog {
  /** A ring of pending records: dropping the oldest costs O(1), whatever the rate of events. */
  private readonly ring: (PendingAudit | undefined)[];
  private head = 0;
  private count = 0;
  readonly meta = new Map<string, string>();
  private deferredTotal = 0;
  private droppedTotal = 0;
  private failing = false;
  private lastReportAt = 0;
  private deferredSinceReport = 0;
  private droppedSinceReport = 0;
  private droppedInEpisode = 0;

  constructor(
    readonly maxAuditRecords = BACKLOG_MAX_AUDIT_RECORDS,
    private readonly reportEveryMs = BACKLOG_REPORT_EVERY_MS,
  ) {
    if (!Number.isInteger(maxAuditRecords) || maxAuditRecords < 1)
      throw new RangeError('maxAuditRecords must be a positive integer');
    this.ring = new Array<PendingAudit | undefined>(maxAuditRecords);
  }

  /** Nothing waits: a new write may go straight to the store. */
  get empty(): boolean {
    return this.count === 0 && this.meta.size === 0;
  }

  stats(): BacklogStats {
    return {
      auditDeferred: this.deferredTotal,
      auditDropped: this.droppedTotal,
      pendingAudit: this.count,
      pendingMeta: this.meta.size,
    };
  }

  deferAudit(record: PendingAudit): void {
    this.deferredTotal++;
    this.deferredSinceReport++;
    if (this.count === this.ring.length) {
      this.head = (this.head + 1) % this.ring.length;
      this.count--;
      this.droppedTotal++;
      this.droppedSinceReport++;
      this.droppedInEpisode++;
    }
    this.ring[(this.head + this.count) % this.ring.length] = record;
    this.count++;
  }

  deferMeta(name: string, value: string): void {
    this.meta.set(name, value);
  }

  /** The pending audit records, oldest first (to write them; clear() once written). */
  audits(): PendingAudit[] {
    const out: PendingAudit[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.head + i) % this.ring.length]!);
    return out;
  }

  /**
   * A write to the store failed (the first one, or a retry). Returns a report when one is due: at
   * the start of the trouble, then once per interval.
   */
  failed(error: string, now: number): BacklogReport | undefined {
    if (this.failing && now - this.lastReportAt < this.reportEveryMs) return undefined;
    this.failing = true;
    this.lastReportAt = now;
    const report: BacklogReport = {
      state: 'failing',
      error,
      pendingAudit: this.count,
      pendingMeta: this.meta.size,
      deferredSinceReport: this.deferredSinceReport,
      droppedSinceReport: this.droppedSinceReport,
    };
    this.deferredSinceReport = 0;
    this.droppedSinceReport = 0;
    return report;
  }

  /** Everything pending was written: empties the backlog and reports the end of the trouble. */
  written(): BacklogReport {
    const report: BacklogReport = { state: 'recovered', written: this.count, dropped: this.droppedInEpisode };
    this.ring.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.meta.clear();
    this.failing = false;
    this.deferredSinceReport = 0;
    this.droppedSinceReport = 0;
    this.droppedInEpisode = 0;
    return report;
  }
}

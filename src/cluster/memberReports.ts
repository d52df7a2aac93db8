import type { MemberToPrimary } from '../protocol/clusterMessages.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Logger } from '../server/logger.js';
import type { ClusterHost } from '../server/role.js';
import type { MemberLink } from './memberLink.js';
import type { OpenWaiters } from './openWaiters.js';
import type { PendingPlacements } from './placement.js';

/** What a joined member reports on its link (all but `join`, which memberLinks.ts answers). */
export type MemberReport = Exclude<MemberToPrimary, { type: 'join' }>;

/**
 * Clients (arrivals and departures) applied to the directory per turn of the event loop, all
 * members together. Members re-linking to a new acting primary send their whole lists at once
 * (36,000 entries in a fleet failover), and a socket read hands over dozens of messages at a time:
 * applied in one go they held the loop for seconds on a loaded machine, its pings to the members
 * went unsent, and the members judged the link dead and dropped it (a CPU profile of the fleet
 * bench: docs/benchmarks.md). Between two slices the loop answers pings, timers and hellos. Not
 * fewer: an entry costs tens of microseconds, a turn of a loop serving a reconnect storm hundreds of
 * milliseconds, and at 2,000 a turn the members' lists took 13 s to apply while their clients
 * waited to be browsable.
 */
export const REPORT_SLICE = 10_000;

/** A report's effect on the directory, queued per member so that its reports apply in order. */
type DirectoryChange =
  | { kind: 'up'; entries: DirectoryEntry[] }
  | { kind: 'down'; ids: string[] }
  /** The member's list is whole: what it no longer holds goes. */
  | { kind: 'listed'; log: Logger };

export interface MemberReportsDeps {
  host: ClusterHost;
  pending: PendingPlacements;
  opens: OpenWaiters;
}

/**
 * What a joined member's reports do on the primary: its clients into the directory (and out of the
 * placements still pending), its load, the answers to the session opens the primary asked of it.
 * Load and open answers apply at once; directory changes in order, REPORT_SLICE a turn.
 */
export class MemberReports {
  private readonly queues = new Map<MemberLink, DirectoryChange[]>();
  /** Entries applied in this turn of the event loop; reset by the turn's scheduled continuation. */
  private used = 0;
  private turnScheduled = false;

  constructor(private readonly deps: MemberReportsDeps) {}

  apply(member: MemberLink, msg: MemberReport, log: Logger): void {
    switch (msg.type) {
      case 'clients':
        this.enqueue(member, { kind: 'up', entries: msg.entries });
        if (msg.last) this.enqueue(member, { kind: 'listed', log });
        break;
      case 'client-changes':
        // Departures first: a client that left and came back is in both.
        this.enqueue(member, { kind: 'down', ids: msg.down });
        this.enqueue(member, { kind: 'up', entries: msg.up });
        break;
      case 'client-up':
        this.enqueue(member, { kind: 'up', entries: [msg.entry] });
        break;
      case 'client-down':
        this.enqueue(member, { kind: 'down', ids: [msg.id] });
        break;
      case 'load':
        member.sessions = msg.sessions;
        break;
      case 'opened':
        this.deps.opens.settle(msg.req, { ticket: msg.ticket }, member.address);
        break;
      case 'open-failed':
        this.deps.opens.settle(msg.req, { error: msg.error }, member.address);
        break;
    }
  }

  /** The member's link is gone: what it reported and was not yet applied is dropped with it. */
  forget(member: MemberLink): void {
    this.queues.delete(member);
  }

  private enqueue(member: MemberLink, change: DirectoryChange): void {
    if ((change.kind === 'up' && change.entries.length === 0) || (change.kind === 'down' && change.ids.length === 0))
      return;
    const queue = this.queues.get(member);
    if (queue) queue.push(change);
    else this.queues.set(member, [change]);
    this.drain();
  }

  /** Applies queued changes, member by member in arrival order, until this turn's slice is used. */
  private drain(): void {
    for (const [member, queue] of this.queues) {
      while (queue.length > 0 && this.used < REPORT_SLICE) this.applyPart(member, queue);
      if (queue.length === 0) this.queues.delete(member);
      if (this.used >= REPORT_SLICE) break;
    }
    if (this.used > 0 && !this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(() => {
        this.turnScheduled = false;
        this.used = 0;
        this.drain();
      });
    }
  }

  /** Applies the head change of the queue, or as much of it as the slice has room for. */
  private applyPart(member: MemberLink, queue: DirectoryChange[]): void {
    const change = queue[0]!;
    const room = REPORT_SLICE - this.used;
    if (change.kind === 'listed') {
      queue.shift();
      this.used++;
      return this.listed(member, change.log);
    }
    const items: unknown[] = change.kind === 'up' ? change.entries : change.ids;
    const part = items.length <= room ? items.splice(0) : items.splice(0, room);
    if (items.length === 0) queue.shift();
    this.used += part.length;
    if (change.kind === 'up') this.clientsUp(member, part as DirectoryEntry[]);
    else for (const id of part as string[]) this.clientDown(member, id);
  }

  /**
   * Clients arrived on a member: the devices of a batch are read in one query (deviceRegistry.ts).
   * A connection the directory already holds (a re-linking member's list, after a takeover listed
   * it from the copy) is only counted as listed: gating it again and telling every console would
   * make a failover pay twice for the clients that never moved.
   */
  private clientsUp(member: MemberLink, entries: readonly DirectoryEntry[]): void {
    const { directory } = this.deps.host;
    const placed = entries.map((entry) => ({ ...entry, server: member.address }));
    for (const entry of placed) this.deps.pending.settle(entry.id);
    directory.upsertMany(placed.filter((entry) => !directory.holdsConnection(entry)));
    for (const entry of placed) member.syncing?.add(entry.id);
  }

  private clientDown(member: MemberLink, id: string): void {
    this.deps.host.directory.remove(id, member.address);
    // Its sessions here may sit half-open (the far side only sent EOF): end them now.
    this.deps.host.broker.clientGone(id);
  }

  private listed(member: MemberLink, log: Logger): void {
    if (!member.syncing) return;
    const removed = this.deps.host.directory.retainOnServer(member.address, member.syncing);
    log.info({ member: member.address, clients: member.syncing.size, removed }, 'member client list received');
    member.syncing = undefined;
  }
}

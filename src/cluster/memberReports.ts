import type { MemberToPrimary } from '../protocol/clusterMessages.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Logger } from '../server/logger.js';
import type { ClusterHost } from '../server/role.js';
import type { MemberLink } from './memberLink.js';
import type { OpenWaiters } from './openWaiters.js';
import type { PendingPlacements } from './placement.js';

/** What a joined member reports on its link (all but `join`, which memberLinks.ts answers). */
export type MemberReport = Exclude<MemberToPrimary, { type: 'join' }>;

export interface MemberReportsDeps {
  host: ClusterHost;
  pending: PendingPlacements;
  opens: OpenWaiters;
}

/**
 * What a joined member's reports do on the primary: its clients into the directory (and out of the
 * placements still pending), its load, the answers to the session opens the primary asked of it.
 */
export class MemberReports {
  constructor(private readonly deps: MemberReportsDeps) {}

  apply(member: MemberLink, msg: MemberReport, log: Logger): void {
    switch (msg.type) {
      case 'clients':
        this.clientsUp(member, msg.entries);
        if (msg.last && member.syncing) {
          const removed = this.deps.host.directory.retainOnServer(member.address, member.syncing);
          log.info({ member: member.address, clients: member.syncing.size, removed }, 'member client list received');
          member.syncing = undefined;
        }
        break;
      case 'client-changes':
        for (const id of msg.down) this.clientDown(member, id);
        this.clientsUp(member, msg.up);
        break;
      case 'client-up':
        this.clientsUp(member, [msg.entry]);
        break;
      case 'client-down':
        this.clientDown(member, msg.id);
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

  /** Clients arrived on a member: the devices of a batch are read in one query (deviceRegistry.ts). */
  private clientsUp(member: MemberLink, entries: readonly DirectoryEntry[]): void {
    const placed = entries.map((entry) => ({ ...entry, server: member.address }));
    for (const entry of placed) this.deps.pending.settle(entry.id);
    this.deps.host.directory.upsertMany(placed);
    for (const entry of placed) member.syncing?.add(entry.id);
  }

  private clientDown(member: MemberLink, id: string): void {
    this.deps.host.directory.remove(id, member.address);
    // Its sessions here may sit half-open (the far side only sent EOF): end them now.
    this.deps.host.broker.clientGone(id);
  }
}

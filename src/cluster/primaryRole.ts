import type { Duplex } from 'node:stream';
import { CloseCodes } from '../protocol/closeCodes.js';
import type { PrimaryToMember } from '../protocol/clusterMessages.js';
import type { RpcCall, StatusResult } from '../protocol/clusterRpc.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConnectedClient } from '../server/context.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour } from '../server/role.js';
import { openLocal } from '../server/standaloneRole.js';
import type { ServerRow } from '../store/configStore.js';
import type { ClusterOptions } from './clusterOptions.js';
import type { ClusterHost } from '../server/role.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';
import type { MemberLink } from './memberLink.js';
import { acceptMemberLink, replicateToMembers, type MemberLinksDeps } from './memberLinks.js';
import { MemberReports, REPORT_SLICE } from './memberReports.js';
import { OpenWaiters } from './openWaiters.js';
import { PrimaryFailback } from './primaryFailback.js';
import { primaryServerTable } from './primaryServerTable.js';
import { chooseServer, PendingPlacements, type Candidate } from './placement.js';
import { DeviceReplication } from './deviceReplication.js';
import { DirectoryFeed } from './directoryFeed.js';

const OPEN_TIMEOUT_MS = 15_000;
/**
 * How long clients listed from the secondary's copy of the directory stay listed for a member that
 * has not re-linked: a member that went down with the primary has its clients reconnect elsewhere,
 * and the copy must not outlive them. Re-links of a fleet's members took up to 6 s on a busy machine.
 */
export const INHERITED_GRACE_MS = 15_000;

export interface PrimaryRoleOptions extends ClusterOptions {
  /**
   * Set when the secondary acts as primary after a failover: the configured primary's address,
   * which stays what clients are told to try first. Unset on the configured primary itself.
   */
  actingFor?: string;
  /**
   * The acting secondary's copy of the lost primary's directory (directoryCopy.ts): listed at once,
   * each member's share until that member's own list replaces it.
   */
  inherited?: readonly DirectoryEntry[];
}

/**
 * The primary: the first contact of every client, which it places by weight; the holder of the
 * cluster-wide directory that controls browse; the broker of sessions to clients on members; and
 * the source of the configuration that members replicate.
 */
export class PrimaryRole implements RoleBehaviour {
  private readonly members = new Map<string, MemberLink>();
  private readonly pending = new PendingPlacements();
  private readonly opens = new OpenWaiters(OPEN_TIMEOUT_MS);
  private readonly failback: PrimaryFailback | undefined;
  private readonly devices: DeviceReplication;
  private readonly directoryFeed: DirectoryFeed;
  private readonly memberLinks: MemberLinksDeps;
  private inheritedTimer: NodeJS.Timeout | undefined;
  private inheriting: NodeJS.Immediate | undefined;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: PrimaryRoleOptions,
  ) {
    if (!options.actingFor)
      this.failback = new PrimaryFailback(
        host,
        () => this.epoch(),
        () => this.secondary(),
      );
    this.devices = new DeviceReplication(host, options.secret);
    this.directoryFeed = new DirectoryFeed(host.directory);
    this.memberLinks = {
      host,
      secret: options.secret,
      actingFor: options.actingFor,
      members: this.members,
      pending: this.pending,
      opens: this.opens,
      devices: this.devices,
      directory: this.directoryFeed,
      reports: new MemberReports({ host, pending: this.pending, opens: this.opens }),
      epoch: () => this.epoch(),
      secondary: () => this.secondary(),
    };
  }

  start(): void {
    this.devices.start();
    const store = this.host.store;
    if ((store.epoch() ?? 0) < 1) store.setMeta('epoch', '1');
    store.setMeta('role', this.options.actingFor ? 'acting-primary' : 'primary');
    store.setMeta('primary', this.host.advertise);
    this.host.devices.becameActing();
    this.failback?.start();
    if (this.options.inherited) this.inherit(this.options.inherited);
  }

  /**
   * Lists the clients the lost primary had on members, as its copy says: they are still connected
   * there, and an operator's list should not lose them while their members re-link. REPORT_SLICE a
   * turn from the next one on, as members' lists are applied: 49,000 at once (a device read each)
   * held the event loop for two seconds on a busy machine, and the takeover's announcement to the
   * members waited behind them. A
   * member that has re-linked meanwhile lists its own, and its share of the copy is skipped; the
   * share of one that has not re-linked after INHERITED_GRACE_MS is dropped. Sessions to these
   * clients open once their member is back.
   */
  private inherit(entries: readonly DirectoryEntry[]): void {
    const servers = new Set(entries.map((e) => e.server));
    let next = 0;
    const slice = () => {
      const part = entries.slice(next, next + REPORT_SLICE);
      next += part.length;
      this.host.directory.upsertMany(part.filter((entry) => !this.members.has(entry.server)));
      if (next < entries.length) this.inheriting = setImmediate(slice);
      else
        this.host.logger.info(
          { clients: entries.length, servers: servers.size },
          "listed the members' clients from the copy",
        );
    };
    this.inheriting = setImmediate(slice);
    this.inheritedTimer = setTimeout(() => {
      for (const server of servers) {
        if (this.members.has(server)) continue;
        const dropped = this.host.directory.dropServer(server);
        if (dropped > 0)
          this.host.logger.warn(
            { member: server, clientsDropped: dropped },
            'a member did not re-link in time: its clients listed from the copy are dropped',
          );
      }
    }, INHERITED_GRACE_MS);
    this.inheritedTimer.unref();
  }

  /** Closes the member links; they find the acting primary again by themselves. */
  stop(reason = 'primary shutting down'): void {
    this.failback?.stop();
    clearTimeout(this.inheritedTimer);
    clearImmediate(this.inheriting);
    this.devices.stop();
    this.directoryFeed.stop();
    for (const m of [...this.members.values()]) m.link.close(CloseCodes.SHUTTING_DOWN, reason);
  }

  /**
   * Nobody takes a snapshot from the primary: members get their configuration on the link, cut to
   * what each needs (snapshotFor), so a `snapshot` call here could only serve a holder of the
   * secret who wants the operators' secrets without being the secondary.
   */
  rpc({ method }: RpcCall): Promise<unknown> {
    if (method === 'status')
      return Promise.resolve({
        acting: true,
        epoch: this.epoch(),
        reachesPrimary: true,
        configVersion: this.host.store.version(),
      } satisfies StatusResult);
    return Promise.reject(new SwitchboardError(ErrorCodes.NOT_PRIMARY, `${method} is not for the primary`));
  }

  epoch(): number {
    return this.host.store.epoch() ?? 1;
  }

  acting(): Acting {
    return { acting: true };
  }

  /**
   * The server table, from the config cache rather than SQLite: placement reads it on every
   * arrival. check() first (a prepared PRAGMA when nothing changed) so that a change another
   * process committed (`config --data`) takes effect at once, as a table read would.
   */
  private rows(): ServerRow[] {
    this.host.config.check();
    return this.host.config.servers;
  }

  private secondary(): string | undefined {
    return this.rows().find((s) => s.secondary)?.address;
  }

  clusterAddresses(): ClusterAddresses {
    return { primary: this.options.actingFor ?? this.host.advertise, secondary: this.secondary() };
  }

  private candidates(): Candidate[] {
    const { host } = this;
    const rows = this.rows();
    // The acting secondary is in its own table as a member: count it once, as itself.
    const self: Candidate = {
      address: host.advertise,
      weight: this.options.actingFor
        ? (rows.find((r) => r.address === host.advertise)?.weight ?? 1000)
        : host.config.settings['primary-weight'],
      enabled: true,
      healthy: !host.stopping,
      clients: host.clients.size + this.pending.count(host.advertise),
    };
    return [
      self,
      ...rows
        .filter((row) => row.address !== host.advertise)
        .map((row) => {
          const member = this.members.get(row.address);
          return {
            address: row.address,
            weight: row.weight,
            enabled: row.enabled,
            healthy: member !== undefined && !member.draining,
            clients: host.directory.clientsOn(row.address) + this.pending.count(row.address),
          };
        }),
    ];
  }

  place(clientId: string): Placement {
    const now = Date.now();
    this.pending.expire(now);
    const self = this.host.advertise;
    // Kept here on its upgrade request: its hello, on the same connection, stays. Choosing again
    // would send it elsewhere after the whole handshake, whenever the counts moved in between.
    if (this.pending.serverOf(clientId) === self) return { keep: true };
    this.pending.settle(clientId);
    const choice = chooseServer(this.candidates());
    if (!choice) return { keep: true };
    // Counted where it goes until it is up there, here too: a burst is not all kept at once.
    this.pending.add(clientId, choice.address, now);
    if (choice.address === self) return { keep: true };
    return { keep: false, redirect: choice.address, reason: 'placed by weight' };
  }

  servers(): ServerInfo[] {
    return primaryServerTable({
      host: this.host,
      table: this.rows(),
      members: this.members,
      actingFor: this.options.actingFor,
    });
  }

  clientUp(client: ConnectedClient): void {
    this.pending.settle(client.id);
    this.host.directory.upsert(client.entry);
  }

  clientDown(client: ConnectedClient): void {
    this.host.directory.remove(client.id, this.host.advertise);
  }

  async openFarEnd(entry: DirectoryEntry, target: SessionTarget, operator: string): Promise<Duplex> {
    if (entry.server === this.host.advertise) return openLocal(this.host, entry, target);
    const member = this.members.get(entry.server);
    if (!member)
      throw new SwitchboardError(
        ErrorCodes.UNREACHABLE,
        `server ${entry.server}, which holds ${entry.name}, is not linked to the primary`,
      );
    const ticket = await this.opens.wait(member.address, (req) =>
      this.send(member.link, { type: 'open', req, clientId: entry.id, target, operator }),
    );
    return this.host.dialData(member.address, ticket, member.fingerprint);
  }

  private send(link: Link, message: PrimaryToMember): void {
    link.send(message);
  }

  /** A member's link, handled by memberLinks.ts (join, reports, close). */
  acceptClusterLink(link: Link): void {
    acceptMemberLink(this.memberLinks, link);
  }

  /** Replicates the new configuration, and applies enabled/removed to the linked members at once. */
  configChanged(): void {
    replicateToMembers(this.memberLinks, this.host.store.snapshot());
  }
}

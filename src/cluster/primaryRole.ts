import type { Duplex } from 'node:stream';
import { CloseCodes } from '../protocol/closeCodes.js';
import {
  linkSalt,
  memberProof,
  MemberToPrimary,
  primaryProof,
  type PrimaryToMember,
} from '../protocol/clusterMessages.js';
import type { RpcCall, StatusResult } from '../protocol/clusterRpc.js';
import { clusterProtocolRefusal } from '../protocol/clusterCompat.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { decode, type ServerInfo, type SessionTarget } from '../protocol/messages.js';
import { newNonce, proofMatches } from '../protocol/proof.js';
import type { ConnectedClient } from '../server/context.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour } from '../server/role.js';
import { openLocal } from '../server/standaloneRole.js';
import type { ConfigSnapshot, ServerRow } from '../store/configStore.js';
import type { ClusterOptions } from './clusterOptions.js';
import type { ClusterHost } from '../server/role.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';
import { configMessage, mayAct } from './configReplication.js';
import type { MemberLink } from './memberLink.js';
import { OpenWaiters } from './openWaiters.js';
import { PrimaryFailback } from './primaryFailback.js';
import { primaryServerTable } from './primaryServerTable.js';
import { chooseServer, PendingPlacements, type Candidate } from './placement.js';
import { DeviceReplication } from './deviceReplication.js';

const JOIN_TIMEOUT_MS = 10_000;
const OPEN_TIMEOUT_MS = 15_000;

export interface PrimaryRoleOptions extends ClusterOptions {
  /**
   * Set when the secondary acts as primary after a failover: the configured primary's address,
   * which stays what clients are told to try first. Unset on the configured primary itself.
   */
  actingFor?: string;
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
  }

  start(): void {
    this.devices.start();
    const store = this.host.store;
    if ((store.epoch() ?? 0) < 1) store.setMeta('epoch', '1');
    store.setMeta('role', this.options.actingFor ? 'acting-primary' : 'primary');
    store.setMeta('primary', this.host.advertise);
    this.failback?.start();
  }

  /** Closes the member links; they find the acting primary again by themselves. */
  stop(reason = 'primary shutting down'): void {
    this.failback?.stop();
    this.devices.stop();
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

  acceptClusterLink(link: Link): void {
    const log = this.host.logger.child({ peer: link.remoteAddress, channel: 'cluster' });
    const nonce = newNonce();
    let member: MemberLink | undefined;
    const timer = setTimeout(() => link.close(CloseCodes.HELLO_TIMEOUT, 'no join in time'), JOIN_TIMEOUT_MS);
    this.send(link, { type: 'challenge', nonce, epoch: this.epoch(), primary: this.host.advertise });

    const refuse = (code: number, reason: string) => {
      log.warn({ closeCode: code, reason }, 'cluster link refused');
      link.close(code, reason);
    };

    link.onMessage((data) => {
      const decoded = decode(MemberToPrimary, data);
      if (!decoded.ok) return refuse(CloseCodes.BAD_MESSAGE, `malformed cluster message: ${decoded.error}`);
      const msg = decoded.value;
      if (!member) {
        if (msg.type !== 'join') return refuse(CloseCodes.BAD_MESSAGE, 'expected join');
        clearTimeout(timer);
        const incompatible = clusterProtocolRefusal(msg.version);
        if (incompatible) return refuse(CloseCodes.BAD_MESSAGE, incompatible);
        const binding = link.channelBinding();
        if (!proofMatches(memberProof(this.options.secret, nonce, msg, binding), msg.proof))
          return refuse(CloseCodes.CLUSTER_AUTH, 'cluster secret not accepted');
        const row = this.host.store.servers().find((s) => s.address === msg.address);
        const standby = msg.standby === true;
        if (!standby && !row)
          return refuse(CloseCodes.NOT_IN_CLUSTER, `${msg.address} is not in the primary's server table`);
        if (!standby && !row?.enabled)
          return refuse(CloseCodes.NOT_IN_CLUSTER, `${msg.address} is disabled in the primary's server table`);
        this.members
          .get(msg.address)
          ?.link.close(CloseCodes.DUPLICATE_CLIENT, 'replaced by a newer link from the same server');
        // What we had on this member stays browsable until its fresh list is whole.
        member = {
          address: msg.address,
          standby,
          link,
          salt: linkSalt(nonce, msg.nonce),
          configsSent: 0,
          fingerprint: msg.fingerprint,
          sessions: msg.sessions,
          draining: false,
          syncing: new Set(),
        };
        this.members.set(msg.address, member);
        // The member's key, announced over this authenticated link: vouched for to clients placed there.
        if (msg.fingerprint) this.host.learnPins({ [msg.address]: msg.fingerprint });
        this.send(link, {
          type: 'accepted',
          proof: primaryProof(this.options.secret, msg.nonce, this.host.advertise, binding),
          epoch: this.epoch(),
          primary: this.host.advertise,
          secondary: this.secondary(),
          pins: this.host.pinsOf([this.host.advertise, this.secondary(), this.options.actingFor]),
        });
        if (msg.configVersion !== this.host.store.version()) this.sendConfig(member, this.host.store.snapshot());
        this.devices.member(member.address, link, member.salt, mayAct(member, this.host.store.servers()));
        log.info({ member: msg.address, configVersion: msg.configVersion }, 'member joined');
        return;
      }
      switch (msg.type) {
        case 'clients':
          for (const entry of msg.entries) this.memberClientUp(member, entry);
          if (msg.last && member.syncing) {
            const removed = this.host.directory.retainOnServer(member.address, member.syncing);
            log.info({ member: member.address, clients: member.syncing.size, removed }, 'member client list received');
            member.syncing = undefined;
          }
          break;
        case 'client-changes':
          for (const id of msg.down) this.memberClientDown(member, id);
          for (const entry of msg.up) this.memberClientUp(member, entry);
          break;
        case 'client-up':
          this.memberClientUp(member, msg.entry);
          break;
        case 'client-down':
          this.memberClientDown(member, msg.id);
          break;
        case 'load':
          member.sessions = msg.sessions;
          break;
        case 'opened':
          this.opens.settle(msg.req, { ticket: msg.ticket }, member.address);
          break;
        case 'open-failed':
          this.opens.settle(msg.req, { error: msg.error }, member.address);
          break;
        case 'join':
          refuse(CloseCodes.BAD_MESSAGE, 'already joined');
          break;
      }
    });

    link.onClose((code, reason) => {
      clearTimeout(timer);
      if (!member || this.members.get(member.address) !== member) return;
      this.members.delete(member.address);
      this.devices.left(member.address, link);
      this.host.broker.serverGone(member.address);
      const dropped = this.host.directory.dropServer(member.address);
      this.pending.dropServer(member.address);
      this.opens.memberGone(member.address);
      log.warn({ member: member.address, closeCode: code, reason, clientsDropped: dropped }, 'member link lost');
    });
  }

  private memberClientUp(member: MemberLink, entry: DirectoryEntry): void {
    this.pending.settle(entry.id);
    this.host.directory.upsert({ ...entry, server: member.address });
    member.syncing?.add(entry.id);
  }

  private memberClientDown(member: MemberLink, id: string): void {
    this.host.directory.remove(id, member.address);
    // Its sessions here may sit half-open (the far side only sent EOF): end them now.
    this.host.broker.clientGone(id);
  }

  private sendConfig(member: MemberLink, snapshot: ConfigSnapshot): void {
    this.send(member.link, configMessage(this.options.secret, member, snapshot));
  }

  /** Replicates the new configuration, and applies enabled/removed to the linked members at once. */
  configChanged(): void {
    const snapshot = this.host.store.snapshot();
    const rows = new Map(snapshot.servers.map((r) => [r.address, r]));
    for (const member of this.members.values()) {
      if (member.standby) {
        this.sendConfig(member, snapshot);
        this.devices.member(member.address, member.link, member.salt, true);
        continue;
      }
      const row = rows.get(member.address);
      if (!row) {
        member.link.close(CloseCodes.NOT_IN_CLUSTER, `${member.address} was removed from the primary's server table`);
        continue;
      }
      this.sendConfig(member, snapshot);
      this.devices.member(member.address, member.link, member.salt, mayAct(member, snapshot.servers));
      if (row.enabled === member.draining) {
        member.draining = !row.enabled;
        this.send(member.link, { type: 'drain', draining: member.draining });
        this.host.logger.info(
          { member: member.address, draining: member.draining },
          member.draining ? 'member draining' : 'member enabled',
        );
      }
    }
  }
}

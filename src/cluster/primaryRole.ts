import type { Duplex } from 'node:stream';
import { CloseCodes } from '../protocol/closeCodes.js';
import {
  CLUSTER_PROTOCOL_VERSION,
  ConfigSnapshotSchema,
  linkSalt,
  memberProof,
  MemberToPrimary,
  primaryProof,
  sealConfig,
  type PrimaryToMember,
} from '../protocol/clusterMessages.js';
import { ErrorCodes, isErrorCode, SwitchboardError } from '../protocol/errors.js';
import { decode, type ServerInfo, type SessionTarget } from '../protocol/messages.js';
import { newNonce, proofMatches } from '../protocol/proof.js';
import type { Acting, ConnectedClient, Placement, RoleBehaviour } from '../server/context.js';
import { openLocal } from '../server/standaloneRole.js';
import type { ConfigSnapshot, ServerRow } from '../store/configStore.js';
import type { ClusterHost, ClusterOptions } from './clusterHost.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';
import { z } from 'zod';
import { announceActingPrimary } from './announcement.js';
import { nextEpoch } from './failover.js';
import { chooseServer, PendingPlacements, type Candidate } from './placement.js';

interface MemberState {
  address: string;
  standby: boolean;
  link: Link;
  /** Seals the configuration sent on this link (linkSalt), with the count sent so far. */
  salt: string;
  configsSent: number;
  fingerprint: string | undefined;
  sessions: number;
  draining: boolean;
  /** Ids reported since the join, until the member's client list is whole (its `last` batch). */
  syncing?: Set<string>;
}

interface OpenWaiter {
  member: string;
  resolve: (ticket: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const JOIN_TIMEOUT_MS = 10_000;
const OPEN_TIMEOUT_MS = 15_000;
const RECLAIM_EVERY_MS = 2000;
/** Not a hash any password matches: an operator cannot log in on a server holding this. */
const WITHHELD = 'withheld';

export interface PrimaryRoleOptions extends ClusterOptions {
  /**
   * Set when the secondary acts as primary after a failover: the configured primary's address,
   * which stays what clients are told to try first. Unset on the configured primary itself.
   */
  actingFor?: string;
}

const StatusReply = z.object({ acting: z.boolean(), epoch: z.number().int().min(0) });

/**
 * The primary: the first contact of every client, which it places by weight; the holder of the
 * cluster-wide directory that controls browse; the broker of sessions to clients on members; and
 * the source of the configuration that members replicate.
 */
export class PrimaryRole implements RoleBehaviour {
  private readonly members = new Map<string, MemberState>();
  private readonly pending = new PendingPlacements();
  private readonly opens = new Map<number, OpenWaiter>();
  private nextReq = 1;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private reclaiming = false;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: PrimaryRoleOptions,
  ) {}

  start(): void {
    const store = this.host.store;
    if ((store.epoch() ?? 0) < 1) store.setMeta('epoch', '1');
    store.setMeta('role', this.options.actingFor ? 'acting-primary' : 'primary');
    store.setMeta('primary', this.host.advertise);
    if (!this.options.actingFor) {
      void this.reclaim();
      this.reclaimTimer = setInterval(() => void this.reclaim(), RECLAIM_EVERY_MS);
      this.reclaimTimer.unref();
    }
  }

  /** Closes the member links; they find the acting primary again by themselves. */
  stop(reason = 'primary shutting down'): void {
    clearInterval(this.reclaimTimer);
    for (const m of [...this.members.values()]) m.link.close(CloseCodes.SHUTTING_DOWN, reason);
  }

  /**
   * Failback: if the secondary took over while we were away (or cut off), take its newer
   * configuration, then the role back with a higher epoch, and ask it to step down. Members then
   * re-link here; their clients stay where they are.
   */
  private async reclaim(): Promise<void> {
    const secondary = this.secondary();
    if (!secondary || this.reclaiming) return;
    this.reclaiming = true;
    const log = this.host.logger.child({ channel: 'cluster', secondary });
    try {
      const status = StatusReply.safeParse(await this.host.callRpc(secondary, 'status'));
      if (!status.success) return;
      // A secondary that has seen a newer epoch without acting means we are the stale one (an old
      // copy of our data directory came back): members refuse us until we are above that epoch.
      const stale = status.data.epoch > this.epoch();
      if (!status.data.acting && !stale) return;
      log.warn(
        { theirEpoch: status.data.epoch, ourEpoch: this.epoch() },
        status.data.acting
          ? 'the secondary is acting as primary; taking the role back'
          : 'the secondary has seen a newer epoch than ours; taking its configuration and a higher epoch',
      );
      const snapshot = ConfigSnapshotSchema.parse(await this.host.callRpc(secondary, 'snapshot'));
      if (snapshot.version >= this.host.store.version()) {
        this.host.store.applySnapshot(snapshot);
        this.host.config.check();
      }
      const epoch = nextEpoch(this.epoch(), status.data.epoch);
      this.host.store.setMeta('epoch', String(epoch));
      if (status.data.acting) await this.host.callRpc(secondary, 'step-down', { epoch });
      log.warn({ epoch, configVersion: snapshot.version }, 'took the primary role back');
      // The members' links to the secondary closed when it stepped down: they need not wait to retry.
      if (status.data.acting) announceActingPrimary(this.host, epoch);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'secondary not reachable for failback check');
    } finally {
      this.reclaiming = false;
    }
  }

  /**
   * Nobody takes a snapshot from the primary: members get their configuration on the link, cut to
   * what each needs (snapshotFor), so a `snapshot` call here could only serve a holder of the
   * secret who wants the operators' secrets without being the secondary.
   */
  rpc(method: string): Promise<unknown> {
    if (method === 'status')
      return Promise.resolve({
        acting: true,
        epoch: this.epoch(),
        reachesPrimary: true,
        configVersion: this.host.store.version(),
      });
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

  clusterAddresses(): { primary?: string; secondary?: string } {
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
    const { host } = this;
    const table = this.rows();
    const selfRow = table.find((row) => row.address === host.advertise);
    const rows: ServerInfo[] = [];
    if (this.options.actingFor) {
      rows.push({
        address: this.options.actingFor,
        role: 'primary',
        weight: host.config.settings['primary-weight'],
        enabled: true,
        secondary: false,
        status: 'down',
        clients: 0,
        sessions: 0,
      });
    }
    rows.push({
      address: host.advertise,
      role: this.options.actingFor ? 'acting primary' : host.role,
      weight: selfRow?.weight ?? host.config.settings['primary-weight'],
      enabled: true,
      secondary: selfRow?.secondary ?? false,
      status: host.stopping ? 'draining' : 'up',
      clients: host.clients.size,
      sessions: host.broker.activeCount,
    });
    for (const m of this.members.values()) {
      if (m.standby)
        rows.push({
          address: m.address,
          role: 'standby',
          weight: 0,
          enabled: true,
          secondary: false,
          status: 'up',
          clients: host.directory.clientsOn(m.address),
          sessions: m.sessions,
        });
    }
    for (const row of table) {
      if (row.address === host.advertise) continue;
      const member = this.members.get(row.address);
      const clients = host.directory.clientsOn(row.address);
      rows.push({
        address: row.address,
        role: 'member',
        weight: row.weight,
        enabled: row.enabled,
        secondary: row.secondary,
        status: !member ? 'down' : member.draining && clients > 0 ? 'draining' : 'up',
        clients,
        sessions: member?.sessions ?? 0,
      });
    }
    return rows;
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
    const req = this.nextReq++;
    const ticket = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opens.delete(req);
        reject(
          new SwitchboardError(ErrorCodes.SESSION_TIMEOUT, `server ${member.address} did not open the session in time`),
        );
      }, OPEN_TIMEOUT_MS);
      this.opens.set(req, { member: member.address, resolve, reject, timer });
      this.send(member.link, { type: 'open', req, clientId: entry.id, target, operator });
    });
    return this.host.dialData(member.address, ticket, member.fingerprint);
  }

  private settleOpen(
    req: number,
    result: { ticket: string } | { error: { code: string; message: string } },
    from: string,
  ): void {
    const waiter = this.opens.get(req);
    if (!waiter || waiter.member !== from) return;
    this.opens.delete(req);
    clearTimeout(waiter.timer);
    if ('ticket' in result) waiter.resolve(result.ticket);
    // A member relays its client's refusal already mapped (clientRefusal); a code that is not ours is not passed on.
    else
      waiter.reject(
        new SwitchboardError(
          isErrorCode(result.error.code) ? result.error.code : ErrorCodes.INTERNAL,
          result.error.message,
        ),
      );
  }

  private send(link: Link, message: PrimaryToMember): void {
    link.send(message);
  }

  acceptClusterLink(link: Link): void {
    const log = this.host.logger.child({ peer: link.remoteAddress, channel: 'cluster' });
    const nonce = newNonce();
    let member: MemberState | undefined;
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
        if (msg.version !== CLUSTER_PROTOCOL_VERSION) {
          return refuse(
            CloseCodes.BAD_MESSAGE,
            `cluster protocol ${msg.version} is not this primary's (${CLUSTER_PROTOCOL_VERSION}): run the same Switchboard version on every server`,
          );
        }
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
          this.settleOpen(msg.req, { ticket: msg.ticket }, member.address);
          break;
        case 'open-failed':
          this.settleOpen(msg.req, { error: msg.error }, member.address);
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
      this.host.broker.serverGone(member.address);
      const dropped = this.host.directory.dropServer(member.address);
      this.pending.dropServer(member.address);
      for (const [req, waiter] of this.opens) {
        if (waiter.member !== member.address) continue;
        this.settleOpen(
          req,
          { error: { code: ErrorCodes.UNREACHABLE, message: `server ${member.address} went away` } },
          member.address,
        );
      }
      log.warn({ member: member.address, closeCode: code, reason, clientsDropped: dropped }, 'member link lost');
    });
  }

  private memberClientUp(member: MemberState, entry: DirectoryEntry): void {
    this.pending.settle(entry.id);
    this.host.directory.upsert({ ...entry, server: member.address });
    member.syncing?.add(entry.id);
  }

  private memberClientDown(member: MemberState, id: string): void {
    this.host.directory.remove(id, member.address);
    // Its sessions here may sit half-open (the far side only sent EOF): end them now.
    this.host.broker.clientGone(id);
  }

  /**
   * A member gets only what it needs. Every member gets the operator accounts (names, roles, keys),
   * but their secrets (password hashes, TOTP seeds) go only to the servers that may answer controls
   * one day: the secondary and a standby. Flagging another secondary bumps the version, so it then
   * receives them.
   */
  private snapshotFor(member: MemberState, snapshot: ConfigSnapshot): ConfigSnapshot {
    const mayAct = member.standby || snapshot.servers.some((r) => r.address === member.address && r.secondary);
    if (mayAct) return snapshot;
    return {
      ...snapshot,
      operators: snapshot.operators.map((op) => ({ ...op, passwordHash: WITHHELD, totpSecret: null })),
    };
  }

  private sendConfig(member: MemberState, snapshot: ConfigSnapshot): void {
    member.configsSent++;
    this.send(member.link, {
      type: 'config',
      sealed: sealConfig(this.options.secret, member.salt, member.configsSent, this.snapshotFor(member, snapshot)),
    });
  }

  /** Replicates the new configuration, and applies enabled/removed to the linked members at once. */
  configChanged(): void {
    const snapshot = this.host.store.snapshot();
    const rows = new Map(snapshot.servers.map((r) => [r.address, r]));
    for (const member of this.members.values()) {
      if (member.standby) {
        this.sendConfig(member, snapshot);
        continue;
      }
      const row = rows.get(member.address);
      if (!row) {
        member.link.close(CloseCodes.NOT_IN_CLUSTER, `${member.address} was removed from the primary's server table`);
        continue;
      }
      this.sendConfig(member, snapshot);
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

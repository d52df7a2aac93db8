import type { Duplex } from 'node:stream';
import { Backoff } from '../net/backoff.js';
import { ServerList } from '../net/serverList.js';
import { CloseCodes } from '../protocol/closeCodes.js';
import {
  CLUSTER_PROTOCOL_VERSION,
  linkSalt,
  memberProof,
  openConfig,
  primaryProof,
  PrimaryToMember,
  type MemberToPrimary,
} from '../protocol/clusterMessages.js';
import type { RpcCall, StatusResult } from '../protocol/clusterRpc.js';
import { ErrorCodes, SwitchboardError, toWireError } from '../protocol/errors.js';
import { decode, MAX_BULK_MESSAGE_BYTES, type ServerInfo, type SessionTarget } from '../protocol/messages.js';
import { newNonce, proofMatches } from '../protocol/proof.js';
import type { ConnectedClient } from '../server/context.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour } from '../server/role.js';
import type { Logger } from '../server/logger.js';
import type { ConfigStore } from '../store/configStore.js';
import { announcementDecision } from './announcement.js';
import { clientBatches } from './clientBatches.js';
import { receiveDevices } from './deviceReplication.js';
import { ClientChanges } from './clientChanges.js';
import { DirectoryCopy } from './directoryCopy.js';
import type { ClusterOptions } from './clusterOptions.js';
import type { ClusterHost } from '../server/role.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';

type LinkState = 'linking' | 'linked' | 'refused';

/**
 * One attempt at a link to the acting primary, from dial to close. Its states, in order: dialled
 * (waiting for the challenge), joined (our proof sent), accepted (the primary proved the secret at
 * an epoch not older than ours: only now is anything but the handshake taken from it), closed.
 */
interface LinkAttempt {
  readonly link: Link;
  readonly log: Logger;
  /** Dialled on an acting primary's announcement rather than by our own retry. */
  readonly announced: boolean;
  readonly myNonce: string;
  state: 'dialled' | 'joined' | 'accepted' | 'closed';
  /** Opens the configuration this link carries (set by the primary's challenge). */
  salt: string;
  /** The count of the last configuration taken on this link: a lower or equal one is a replay. */
  configSeq: number;
  /** The count of the last batch of known devices taken on this link (deviceReplication.ts). */
  devicesSeq: number;
}

const LOAD_REPORT_MS = 1000;
const DRAIN_BATCH = 50;
const DRAIN_EVERY_MS = 250;
const DRAIN_JITTER_MS = 2000;
/** How long arrivals and departures are gathered before they go to the primary in one message. */
const CHANGES_EVERY_MS = 50;
/** How often a replicated configuration the store had no room for (a full disk) is tried again. */
const APPLY_RETRY_MS = 5000;

/**
 * A member: holds the clients the primary placed on it, reports them, replicates the
 * configuration into its own store, and opens sessions to its clients when the primary asks.
 * Without a link it keeps serving from its copy; when the primary refuses it (removed, disabled,
 * wrong secret) it sends its clients back to the primary.
 */
export interface MemberHooks {
  /** The link to the acting primary came up (true) or went down (false). */
  onLink?(linked: boolean): void;
}

/** The secondary of the server table, if one is flagged. */
function secondaryIn(host: ClusterHost): string | undefined {
  return host.store.servers().find((s) => s.secondary)?.address;
}

export class MemberRole implements RoleBehaviour {
  private link: Link | undefined;
  private state: LinkState = 'linking';
  /**
   * Where links go: the configured primary first, and after each failed attempt the secondary (it
   * may be acting); the secondary itself only ever follows the primary.
   */
  private readonly linkTargets: ServerList;
  /** The server whose link we hold (or last held): the primary, or the acting secondary. */
  private actingPrimary: string;
  /** A server that announced itself as the acting primary: the next link goes there, at once. */
  private announced: string | undefined;
  private suspended = false;
  private unlinkedSince = Date.now();
  private draining = false;
  private stopped = false;
  private readonly backoff = new Backoff(250, 5000);
  private retryTimer: NodeJS.Timeout | undefined;
  private loadTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private changesTimer: NodeJS.Timeout | undefined;
  private applyTimer: NodeJS.Timeout | undefined;
  private readonly changes = new ClientChanges();
  /** The acting primary's directory, as the secondary is fed it (directoryFeed.ts); empty elsewhere. */
  readonly directoryCopy = new DirectoryCopy();

  constructor(
    private readonly host: ClusterHost,
    private readonly options: ClusterOptions & { primary: string; standby?: boolean },
    private readonly hooks: MemberHooks = {},
  ) {
    this.linkTargets = new ServerList(options.primary, secondaryIn(host), host.advertise);
    this.actingPrimary = options.primary;
  }

  get linked(): boolean {
    return this.state === 'linked';
  }

  replicationLagSeconds(): number {
    return this.linked || this.suspended ? 0 : (Date.now() - this.unlinkedSince) / 1000;
  }

  start(): void {
    this.host.store.setMeta('role', this.options.standby ? 'standby' : 'member');
    this.host.store.setMeta('primary', this.linkTargets.primary);
    this.connect();
    this.loadTimer = setInterval(
      () =>
        this.sendToPrimary({ type: 'load', clients: this.host.clients.size, sessions: this.host.broker.activeCount }),
      LOAD_REPORT_MS,
    );
    this.loadTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.loadTimer);
    clearInterval(this.drainTimer);
    clearTimeout(this.applyTimer);
    this.forgetChanges();
    this.link?.close(1000, 'member shutting down');
  }

  epoch(): number {
    return this.host.store.epoch() ?? 0;
  }

  acting(): Acting {
    return { acting: false, primary: this.actingPrimary };
  }

  /** While this server acts as the primary itself, its member side holds no link. */
  suspend(): void {
    this.suspended = true;
    clearTimeout(this.retryTimer);
    this.link?.close(1000, 'this server is now the acting primary');
  }

  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.host.store.setMeta('role', 'member');
    this.host.store.setMeta('primary', this.linkTargets.primary);
    this.linkTargets.succeeded();
    this.connect();
  }

  /**
   * Applies a configuration from the primary. One the store has no room for (SB_ERR_STORE_FULL) is
   * tried again every APPLY_RETRY_MS until it fits, or until a newer one arrives and replaces it;
   * meanwhile this server keeps serving from the copy it has.
   */
  private applyConfig(snapshot: Parameters<ConfigStore['applySnapshot']>[0], log: Logger, retrying = false): void {
    clearTimeout(this.applyTimer);
    try {
      this.host.store.applySnapshot(snapshot);
      this.host.config.check();
      log.info({ version: snapshot.version }, 'configuration replicated');
    } catch (err) {
      const full = err instanceof SwitchboardError && err.code === ErrorCodes.STORE_FULL;
      if (!retrying)
        log.error({ err: (err as Error).message, retry: full }, 'could not apply the replicated configuration');
      if (full && !this.stopped) {
        this.applyTimer = setTimeout(() => this.applyConfig(snapshot, log, true), APPLY_RETRY_MS);
        this.applyTimer.unref();
      }
    }
  }

  clusterAddresses(): ClusterAddresses {
    return { primary: this.linkTargets.primary, secondary: this.linkTargets.secondary };
  }

  place(): Placement {
    if (this.state === 'refused' || this.draining)
      return { keep: false, redirect: this.actingPrimary, reason: 'this server takes no new clients' };
    return { keep: true };
  }

  servers(): ServerInfo[] {
    return [];
  }

  clientUp(client: ConnectedClient): void {
    this.host.directory.upsert(client.entry);
    if (this.linked) this.changes.up(client.entry);
    this.scheduleChanges();
  }

  clientDown(client: ConnectedClient): void {
    this.host.directory.remove(client.id, this.host.advertise);
    if (this.linked) this.changes.down(client.id);
    this.scheduleChanges();
  }

  private scheduleChanges(): void {
    if (this.changesTimer || this.changes.size === 0) return;
    this.changesTimer = setTimeout(() => {
      this.changesTimer = undefined;
      for (const batch of this.changes.take()) this.sendToPrimary({ type: 'client-changes', ...batch });
    }, CHANGES_EVERY_MS);
  }

  /** A new link starts with the whole list, and a lost one takes nothing more. */
  private forgetChanges(): void {
    clearTimeout(this.changesTimer);
    this.changesTimer = undefined;
    this.changes.clear();
  }

  openFarEnd(): Promise<Duplex> {
    return Promise.reject(
      new SwitchboardError(ErrorCodes.NOT_PRIMARY, `sessions are opened through the primary ${this.actingPrimary}`),
    );
  }

  acceptClusterLink(link: Link): void {
    link.close(CloseCodes.NOT_PRIMARY, `this server is a member; the primary is ${this.actingPrimary}`);
  }

  configChanged(): void {
    this.linkTargets.setSecondary(secondaryIn(this.host));
  }

  /**
   * Our certificate has a new key: the primary vouches for (and pins) the one we announced, so
   * link again to announce the new one. The secondary does not drop its link (that would start
   * an election): it says to restart it instead.
   */
  tlsKeyChanged(): void {
    if (this.linkTargets.secondary === this.host.advertise)
      return void this.host.logger.warn(
        'the certificate key changed: restart this server (the secondary) so that its primary learns the new key',
      );
    if (this.state === 'linked') this.link?.close(1000, 'certificate key changed: linking again to announce it');
  }

  /** As a plain member: report whether we reach the primary (the secondary asks before promoting). */
  rpc(call: RpcCall): Promise<unknown> {
    if (call.method === 'status')
      return Promise.resolve({
        acting: false,
        epoch: this.epoch(),
        reachesPrimary: this.linked,
        configVersion: this.host.store.version(),
      } satisfies StatusResult);
    if (call.method === 'acting-primary') return this.onAnnouncement(call.from, call.params.epoch);
    return Promise.reject(
      new SwitchboardError(ErrorCodes.NOT_PRIMARY, `${call.method}: this server is not acting as the primary`),
    );
  }

  /** A server announced itself as the acting primary (see announcement.ts): link to it now, not at the next retry. */
  private onAnnouncement(from: string, epoch: number): Promise<unknown> {
    if (this.stopped || this.suspended)
      return Promise.reject(new SwitchboardError(ErrorCodes.NOT_PRIMARY, 'this server is not a plain member now'));
    const { action, reason } = announcementDecision({
      from,
      epoch,
      ourEpoch: this.epoch(),
      primary: this.linkTargets.primary,
      secondary: this.linkTargets.secondary,
      linkedTo: this.linked ? this.actingPrimary : undefined,
      dialing: !this.linked ? this.link?.remoteAddress : undefined,
    });
    this.host.logger.info(
      { channel: 'cluster', acting: from, epoch, action, reason },
      'the acting primary announced itself',
    );
    if (action === 'refuse') return Promise.reject(new SwitchboardError(ErrorCodes.FORBIDDEN, reason));
    if (action === 'relink') {
      this.announced = from;
      // An attempt in progress goes elsewhere: end it, and its close dials the announced server.
      if (this.link) this.link.close(1000, 'the acting primary announced itself elsewhere');
      else {
        clearTimeout(this.retryTimer);
        this.connect();
      }
    }
    return Promise.resolve({ action, reason });
  }

  private sendToPrimary(message: MemberToPrimary): void {
    if (this.state === 'linked') this.link?.send(message);
  }

  /** Dials the next target (an announced acting primary first) and follows the attempt through its states. */
  private connect(): void {
    if (this.stopped || this.suspended) return;
    const announced = this.announced !== undefined;
    const target = this.announced ?? this.linkTargets.current();
    this.announced = undefined;
    const attempt: LinkAttempt = {
      log: this.host.logger.child({ channel: 'cluster', primary: target }),
      link: this.host.dialLink(target),
      announced,
      myNonce: newNonce(),
      state: 'dialled',
      salt: '',
      configSeq: 0,
      devicesSeq: 0,
    };
    this.link = attempt.link;
    attempt.link.onMessage((data) => this.onPrimaryMessage(attempt, data));
    attempt.link.onClose((code, reason) => this.onLinkClosed(attempt, code, reason));
  }

  private onPrimaryMessage(attempt: LinkAttempt, data: unknown): void {
    const { link, log } = attempt;
    const decoded = decode(PrimaryToMember, data, MAX_BULK_MESSAGE_BYTES);
    if (!decoded.ok) {
      log.warn({ reason: decoded.error }, 'malformed message from the primary');
      return link.close(CloseCodes.BAD_MESSAGE, 'malformed message');
    }
    const msg = decoded.value;
    // Until we accept the primary (secret proven, epoch not stale), take nothing from it: a stale
    // primary sends its old configuration right behind the 'accepted' that we refuse.
    if (attempt.state !== 'accepted' && msg.type !== 'challenge' && msg.type !== 'accepted') return;
    switch (msg.type) {
      case 'challenge':
        return this.join(attempt, msg);
      case 'accepted':
        return this.accepted(attempt, msg);
      case 'config':
        return this.configReceived(attempt, msg);
      case 'open':
        void this.openForPrimary(link, msg.req, msg.clientId, msg.target, msg.operator);
        return;
      case 'drain':
        return this.setDraining(msg.draining);
      case 'directory':
        return this.directoryCopy.apply(msg);
      case 'devices':
        try {
          attempt.devicesSeq = receiveDevices(
            this.host,
            this.options.secret,
            attempt.salt,
            attempt.devicesSeq,
            msg.sealed,
          );
        } catch (err) {
          log.error({ err: (err as Error).message }, 'known devices from the primary refused');
          return link.close(CloseCodes.BAD_MESSAGE, 'device batch refused');
        }
        return;
    }
  }

  /** The primary's challenge: join, proving the secret over its nonce. */
  private join(attempt: LinkAttempt, msg: Extract<PrimaryToMember, { type: 'challenge' }>): void {
    const { link } = attempt;
    attempt.state = 'joined';
    const { host } = this;
    attempt.salt = linkSalt(msg.nonce, attempt.myNonce);
    link.send({
      type: 'join',
      version: CLUSTER_PROTOCOL_VERSION,
      address: host.advertise,
      nonce: attempt.myNonce,
      proof: memberProof(
        this.options.secret,
        msg.nonce,
        { address: host.advertise, fingerprint: host.fingerprint, standby: this.options.standby },
        link.channelBinding(),
      ),
      configVersion: host.store.version(),
      epoch: this.epoch(),
      fingerprint: host.fingerprint,
      standby: this.options.standby,
      sessions: host.broker.activeCount,
    } satisfies MemberToPrimary);
  }

  /** The primary's answer to our join: taken if it proves the secret and its epoch is not stale. */
  private accepted(attempt: LinkAttempt, msg: Extract<PrimaryToMember, { type: 'accepted' }>): void {
    const { link, log } = attempt;
    if (
      !proofMatches(primaryProof(this.options.secret, attempt.myNonce, msg.primary, link.channelBinding()), msg.proof)
    ) {
      log.error('the primary did not prove the cluster secret; refusing it');
      return link.close(CloseCodes.CLUSTER_AUTH, 'primary failed to prove the cluster secret');
    }
    if (msg.epoch < this.epoch()) {
      log.warn({ epoch: msg.epoch, ours: this.epoch() }, 'ignoring a primary with an older epoch');
      return link.close(CloseCodes.STALE_EPOCH, `stale epoch ${msg.epoch} < ${this.epoch()}`);
    }
    attempt.state = 'accepted';
    this.state = 'linked';
    this.directoryCopy.clear();
    this.linkTargets.succeeded();
    this.backoff.reset();
    this.actingPrimary = msg.primary;
    this.host.store.setMeta('epoch', String(msg.epoch));
    // `config --data` on this directory names the server that takes writes now.
    this.host.store.setMeta('primary', msg.primary);
    this.linkTargets.setSecondary(msg.secondary);
    // The primary vouches for itself and the secondary: we may link to either after a failover.
    this.host.learnPins(msg.pins);
    if (this.draining) this.setDraining(false);
    // Our clients follow in small batches, all in this tick: any change that happens later is
    // sent after the last batch, so the primary applies them in order.
    this.forgetChanges();
    const batches = clientBatches([...this.host.clients.values()].map((c) => c.entry));
    batches.forEach((entries, i) =>
      link.send({ type: 'clients', entries, last: i === batches.length - 1 } satisfies MemberToPrimary),
    );
    log.info(
      {
        epoch: msg.epoch,
        acting: msg.primary,
        clients: this.host.clients.size,
        dialled: attempt.announced ? 'on its announcement' : 'by itself',
      },
      'linked to the acting primary',
    );
    this.hooks.onLink?.(true);
  }

  /** A configuration on an accepted link: opened, checked for replay, applied if new. */
  private configReceived(attempt: LinkAttempt, msg: Extract<PrimaryToMember, { type: 'config' }>): void {
    const { link, log } = attempt;
    let opened;
    try {
      opened = openConfig(this.options.secret, attempt.salt, msg.sealed);
    } catch {
      log.error('a configuration from the primary that does not open with the cluster secret; refusing it');
      return link.close(CloseCodes.BAD_MESSAGE, 'configuration does not open');
    }
    if (opened.seq <= attempt.configSeq) {
      log.error({ seq: opened.seq, last: attempt.configSeq }, 'a configuration replayed on the link; refusing it');
      return link.close(CloseCodes.BAD_MESSAGE, 'configuration replayed');
    }
    attempt.configSeq = opened.seq;
    const { snapshot } = opened;
    if (snapshot.version !== this.host.store.version()) this.applyConfig(snapshot, log);
  }

  /** The attempt ended (refused, lost, or replaced): whatever it held is forgotten, and the next is timed. */
  private onLinkClosed(attempt: LinkAttempt, code: number, reason: string): void {
    const { link, log } = attempt;
    const accepted = attempt.state === 'accepted';
    attempt.state = 'closed';
    if (this.link === link) this.link = undefined;
    if (accepted) this.forgetChanges();
    // After stop() the store may be closed already: a stopped member reports nothing.
    if (this.stopped) return;
    if (accepted) {
      this.unlinkedSince = Date.now();
      // Not linked any more, before the hook runs: the secondary's election, which it may start at
      // once, asks this.linked.
      this.state = 'linking';
      this.hooks.onLink?.(false);
    }
    if (this.suspended) return;
    // After a link that worked, try the configured primary first; after each failure, the other.
    if (accepted) this.linkTargets.succeeded();
    else this.linkTargets.failed();
    const refused = code === CloseCodes.NOT_IN_CLUSTER || code === CloseCodes.CLUSTER_AUTH;
    if (refused) {
      log.error({ closeCode: code, reason }, 'the primary refused this server');
      this.state = 'refused';
      this.setDraining(true);
    } else {
      if (accepted) log.warn({ closeCode: code, reason }, 'link to the primary lost; serving from the local copy');
      if (accepted) this.reportLoss(this.actingPrimary);
      if (this.state !== 'refused' || code === CloseCodes.NOT_PRIMARY) this.state = 'linking';
    }
    // An announcement that came while this attempt was out is acted on at once.
    const delay =
      this.announced !== undefined ? 0 : refused ? Math.max(5000, this.backoff.next()) : this.backoff.next();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * Tells the secondary that the link to the configured primary is gone, before it asks: when the
   * primary dies, its clients flood this server, and the secondary's question would wait behind
   * them. Best effort; the secondary still asks those that did not say.
   */
  private reportLoss(lost: string): void {
    const { secondary, primary } = this.linkTargets;
    if (lost !== primary || !secondary || secondary === this.host.advertise) return;
    this.host.callRpc(secondary, 'primary-lost', { epoch: this.epoch() }).catch(() => undefined);
  }

  private async openForPrimary(
    link: Link,
    req: number,
    clientId: string,
    target: SessionTarget,
    operator: string,
  ): Promise<void> {
    const client = this.host.clients.get(clientId);
    if (!client) {
      return link.send({
        type: 'open-failed',
        req,
        error: { code: ErrorCodes.UNKNOWN_CLIENT, message: `client ${clientId} is not on ${this.host.advertise}` },
      } satisfies MemberToPrimary);
    }
    try {
      const far = await this.host.broker.requestFromClient(client, target);
      const entry: DirectoryEntry = client.entry;
      const ticket = this.host.broker.offer(far, {
        clientId,
        clientName: entry.name,
        server: this.host.advertise,
        operator,
        target,
      });
      link.send({ type: 'opened', req, ticket } satisfies MemberToPrimary);
    } catch (err) {
      link.send({ type: 'open-failed', req, error: toWireError(err) } satisfies MemberToPrimary);
    }
  }

  /** Sends clients back to the primary in small, jittered batches: no reconnect storm. */
  private setDraining(draining: boolean): void {
    this.draining = draining;
    clearInterval(this.drainTimer);
    if (draining) this.sendClientsBack();
  }

  /** Tells every client here to go to the acting primary, a batch at a time. */
  sendClientsBack(): void {
    clearInterval(this.drainTimer);
    this.drainTimer = setInterval(() => {
      const batch = [...this.host.clients.values()].slice(0, DRAIN_BATCH);
      if (batch.length === 0) return clearInterval(this.drainTimer);
      for (const client of batch) {
        client.send({
          type: 'reconnect',
          reason: 'server draining',
          to: this.actingPrimary,
          pin: this.host.pinOf(this.actingPrimary),
          delayMs: Math.floor(Math.random() * DRAIN_JITTER_MS),
        });
        client.close(CloseCodes.DRAINING, 'server draining');
        // Forget it now, so the next batch moves on even before its socket has closed.
        this.host.clients.delete(client.id);
        this.host.broker.clientGone(client.id);
        this.clientDown(client);
      }
    }, DRAIN_EVERY_MS);
  }
}

import type { Duplex } from 'node:stream';
import type { RpcCall } from '../protocol/clusterRpc.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConnectedClient } from '../server/context.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour } from '../server/role.js';
import { announceActingPrimary } from './announcement.js';
import type { ClusterOptions } from './clusterOptions.js';
import type { ClusterHost } from '../server/role.js';
import type { DirectoryEntry } from '../server/directory.js';
import { nextEpoch, promotionDecision, type Probe } from './failover.js';
import type { Link } from '../net/link.js';
import { MemberRole } from './memberRole.js';
import { handControlsBack } from '../server/handControlsBack.js';
import { LossReports } from './lossReports.js';
import { PrimaryRole } from './primaryRole.js';

const ELECTION_EVERY_MS = 500;

type ElectionProbe = Probe & { epoch: number; acting: boolean; reported?: boolean };

/**
 * Every member runs this role: a member that may stand in for the primary. As a plain member it
 * delegates to MemberRole. If it is the secondary and loses the primary, it asks the other servers whether they still reach it, and
 * when no majority does, takes over as acting primary with a higher epoch. When the primary
 * returns and asks it to step down, it becomes a member again, keeping its own clients.
 */
export class StandingInRole implements RoleBehaviour {
  private readonly member: MemberRole;
  private actingRole: PrimaryRole | undefined;
  private electionTimer: NodeJS.Timeout | undefined;
  private electing = false;
  private readonly lossReports = new LossReports();

  constructor(
    private readonly host: ClusterHost,
    private readonly options: ClusterOptions & { primary: string },
  ) {
    this.member = new MemberRole(host, options, { onLink: (linked) => this.onLink(linked) });
  }

  private get current(): RoleBehaviour {
    return this.actingRole ?? this.member;
  }

  private isSecondary(): boolean {
    return this.host.store.servers().some((s) => s.secondary && s.address === this.host.advertise);
  }

  start(): void {
    this.member.start();
    // A secondary that starts while the primary is already gone must be able to take over too.
    if (this.isSecondary()) this.startElection();
  }

  stop(): void {
    clearInterval(this.electionTimer);
    this.actingRole?.stop('acting primary shutting down');
    this.member.stop();
  }

  private onLink(linked: boolean): void {
    if (linked) return this.stopElection();
    // The first round at once: every round first asks the primary itself and the members, so a
    // link that dropped for a moment, or a member that still reaches the primary, stops it anyway.
    if (this.isSecondary() && !this.actingRole) this.startElection(true);
  }

  private startElection(roundNow = false): void {
    if (this.electionTimer) return;
    this.electionTimer = setInterval(() => void this.electionRound(), ELECTION_EVERY_MS);
    this.electionTimer.unref();
    if (roundNow) void this.electionRound();
  }

  private stopElection(): void {
    clearInterval(this.electionTimer);
    this.electionTimer = undefined;
  }

  /**
   * What `address` answers about the primary, or what it reported of its own accord (lossReports.ts),
   * whichever comes first: a member swamped by the lost primary's clients answers late.
   */
  private async probe(address: string): Promise<ElectionProbe> {
    const fromReport = (epoch: number): ElectionProbe => ({
      address,
      reachable: true,
      reachesPrimary: false,
      epoch,
      acting: false,
      reported: true,
    });
    const recent = this.lossReports.recent(address);
    if (recent !== undefined) return fromReport(recent);
    const report = this.lossReports.next(address);
    try {
      return await Promise.race([this.ask(address), report.reported.then(fromReport)]);
    } finally {
      report.cancel();
    }
  }

  private async ask(address: string): Promise<ElectionProbe> {
    try {
      const reply = await this.host.callRpc(address, 'status', {});
      return {
        address,
        reachable: true,
        reachesPrimary: reply.reachesPrimary,
        epoch: reply.epoch,
        acting: reply.acting,
      };
    } catch {
      return { address, reachable: false, reachesPrimary: false, epoch: 0, acting: false };
    }
  }

  private async electionRound(): Promise<void> {
    if (this.electing || this.actingRole || this.member.linked || !this.isSecondary()) {
      if (this.member.linked || this.actingRole) this.stopElection();
      return;
    }
    this.electing = true;
    try {
      // The primary itself may answer a direct question even if the link is down: then it lives.
      const primary = await this.ask(this.options.primary);
      if (primary.reachable) return;
      const others = this.host.store.servers().filter((s) => s.enabled && s.address !== this.host.advertise);
      const probes = await Promise.all(others.map((s) => this.probe(s.address)));
      const decision = promotionDecision({ others: others.length, probes });
      if (!decision.promote || this.member.linked) {
        this.host.logger.info({ reason: decision.reason }, 'primary lost, not taking over');
        return;
      }
      const reported = probes.filter((p) => p.reported).length;
      this.promote(nextEpoch(this.epoch(), ...probes.map((p) => p.epoch)), decision.reason, reported);
    } finally {
      this.electing = false;
    }
  }

  /** `reported`: how many of the others had said they lost the primary before they were asked. */
  private promote(epoch: number, reason: string, reported: number): void {
    // How long since our own link to the primary dropped: the election's time, for the log.
    const unlinkedS = Math.round(this.member.replicationLagSeconds() * 10) / 10;
    this.stopElection();
    this.host.store.setMeta('epoch', String(epoch));
    this.member.suspend();
    // Our own clients are already in the directory. The members' are listed from the copy the
    // primary fed us, until each member re-links (at once when told) and lists its own.
    const inherited = this.member.directoryCopy.take(new Set([this.host.advertise, this.options.primary]));
    this.actingRole = new PrimaryRole(this.host, { ...this.options, actingFor: this.options.primary, inherited });
    this.actingRole.start();
    this.host.metrics.failovers.inc();
    this.host.logger.warn({ epoch, reason, reported, unlinkedS }, 'the secondary takes over as acting primary');
    announceActingPrimary(this.host, epoch);
  }

  private stepDown(epoch: number): void {
    if (!this.actingRole) return;
    this.actingRole.stop('the primary is back; re-link to it');
    this.actingRole = undefined;
    this.host.store.setMeta('epoch', String(epoch));
    this.host.directory.retainOnly(this.host.advertise);
    this.member.resume();
    handControlsBack(this.host, this.options.primary);
    this.host.logger.warn({ epoch }, 'stepped down: the primary has its role back');
  }

  async rpc(call: RpcCall): Promise<unknown> {
    const { from } = call;
    if (call.method === 'primary-lost') {
      this.lossReports.report(from, call.params.epoch);
      return Promise.resolve({});
    }
    if (call.method === 'step-down') {
      const { epoch } = call.params;
      if (from !== this.options.primary)
        throw new SwitchboardError(ErrorCodes.FORBIDDEN, 'only the configured primary may take the role back');
      if (!Number.isInteger(epoch) || epoch <= this.epoch())
        throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `step-down needs an epoch above ${this.epoch()}`);
      this.stepDown(epoch);
      return { steppedDown: true };
    }
    // The secondary's configuration (operators' secrets included) goes back to the returning
    // primary alone, for its failback; no other server, and no plain member, has a use for it.
    if (call.method === 'snapshot') {
      if (from !== this.options.primary || !(this.actingRole || this.isSecondary()))
        throw new SwitchboardError(
          ErrorCodes.FORBIDDEN,
          'only the secondary gives its configuration, and only to the configured primary',
        );
      return this.host.store.snapshot();
    }
    return this.current.rpc(call);
  }

  // ---- everything else is the current role's ----------------------------------------------
  epoch(): number {
    return this.host.store.epoch() ?? 0;
  }
  acting(): Acting {
    return this.current.acting();
  }
  clusterAddresses(): ClusterAddresses {
    return this.current.clusterAddresses();
  }
  place(clientId: string): Placement {
    return this.current.place(clientId);
  }
  servers(): ServerInfo[] {
    return this.current.servers();
  }
  clientUp(client: ConnectedClient): void {
    this.current.clientUp(client);
  }
  clientDown(client: ConnectedClient): void {
    this.current.clientDown(client);
  }
  openFarEnd(entry: DirectoryEntry, target: SessionTarget, operator: string): Promise<Duplex> {
    return this.current.openFarEnd(entry, target, operator);
  }
  acceptClusterLink(link: Link): void {
    this.current.acceptClusterLink(link);
  }
  replicationLagSeconds(): number {
    return this.actingRole ? 0 : this.member.replicationLagSeconds();
  }

  directoryCopySize(): number {
    return this.member.directoryCopy.size;
  }

  tlsKeyChanged(): void {
    this.member.tlsKeyChanged();
  }

  configChanged(): void {
    this.member.configChanged();
    this.actingRole?.configChanged();
    // No longer the secondary: the primary stops the feed, and a copy that only ages is let go.
    if (!this.isSecondary()) this.member.directoryCopy.clear();
  }
}

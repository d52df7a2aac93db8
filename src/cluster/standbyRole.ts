import type { Duplex } from 'node:stream';
import type { RpcCall } from '../protocol/clusterRpc.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConnectedClient } from '../server/context.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour } from '../server/role.js';
import { openLocal } from '../server/standaloneRole.js';
import type { ClusterOptions } from './clusterOptions.js';
import type { ClusterHost } from '../server/role.js';
import type { DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';
import { MemberRole } from './memberRole.js';
import { ownRow, serverRow } from '../server/serverRow.js';

const CHECK_EVERY_MS = 500;
/** Consecutive failed checks before taking over: rides out a primary's quick restart. */
const FAILED_CHECKS_TO_ACT = 2;

/**
 * A standby of a standalone server: it replicates the configuration over the cluster link and
 * sends every client and control to the primary while that one is up. When the primary stops
 * answering, it serves them itself; when the primary returns, it hands its clients back.
 */
export class StandbyRole implements RoleBehaviour {
  private readonly member: MemberRole;
  private active = false;
  private failedChecks = 0;
  private checking = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: ClusterOptions & { primary: string },
  ) {
    this.member = new MemberRole(
      host,
      { ...options, standby: true },
      { onLink: (linked) => linked && this.handBack() },
    );
  }

  start(): void {
    this.member.start();
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.member.stop();
  }

  private async check(): Promise<void> {
    if (this.active || this.member.linked || this.checking) return;
    this.checking = true;
    try {
      await this.host.callRpc(this.options.primary, 'status', {});
      this.failedChecks = 0;
    } catch {
      if (++this.failedChecks >= FAILED_CHECKS_TO_ACT && !this.member.linked) {
        this.active = true;
        this.host.logger.warn(
          { primary: this.options.primary },
          'the primary is unreachable: the standby serves clients and controls',
        );
      }
    } finally {
      this.checking = false;
    }
  }

  private handBack(): void {
    this.failedChecks = 0;
    if (!this.active) return;
    this.active = false;
    this.host.logger.warn(
      { primary: this.options.primary, clients: this.host.clients.size },
      'the primary is back: handing clients back',
    );
    this.member.sendClientsBack();
  }

  epoch(): number {
    return this.member.epoch();
  }

  acting(): Acting {
    return this.active ? { acting: true } : { acting: false, primary: this.options.primary };
  }

  clusterAddresses(): ClusterAddresses {
    return { primary: this.options.primary, secondary: this.host.advertise };
  }

  place(): Placement {
    return this.active
      ? { keep: true }
      : { keep: false, redirect: this.options.primary, reason: 'the primary is up; this server is its standby' };
  }

  servers(): ServerInfo[] {
    const weight = this.host.config.settings['primary-weight'];
    return [
      serverRow({ address: this.options.primary, role: 'standalone', weight, status: 'down' }),
      ownRow(this.host, { role: 'standby', secondary: true, status: 'up' }),
    ];
  }

  clientUp(client: ConnectedClient): void {
    this.member.clientUp(client);
  }

  clientDown(client: ConnectedClient): void {
    this.member.clientDown(client);
  }

  openFarEnd(entry: DirectoryEntry, target: SessionTarget): Promise<Duplex> {
    if (!this.active)
      return Promise.reject(
        new SwitchboardError(ErrorCodes.NOT_PRIMARY, `the primary ${this.options.primary} is up; use it`),
      );
    return openLocal(this.host, entry, target);
  }

  acceptClusterLink(link: Link): void {
    this.member.acceptClusterLink(link);
  }

  configChanged(): void {
    this.member.configChanged();
  }

  replicationLagSeconds(): number {
    return this.member.replicationLagSeconds();
  }

  rpc(call: RpcCall): Promise<unknown> {
    return this.member.rpc(call);
  }
}

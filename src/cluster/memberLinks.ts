import { CloseCodes } from '../protocol/closeCodes.js';
import { MemberToPrimary, primaryProof, type PrimaryToMember } from '../protocol/clusterMessages.js';
import { decode } from '../protocol/messages.js';
import { newNonce } from '../protocol/proof.js';
import type { Link } from '../net/link.js';
import type { ClusterHost } from '../server/role.js';
import type { ConfigSnapshot, ServerRow } from '../store/configStore.js';
import { configMessage, mayAct } from './configReplication.js';
import type { DeviceReplication } from './deviceReplication.js';
import type { DirectoryFeed } from './directoryFeed.js';
import { admitJoin, isRefusal } from './memberJoin.js';
import type { MemberLink } from './memberLink.js';
import type { MemberReports } from './memberReports.js';
import type { OpenWaiters } from './openWaiters.js';
import type { PendingPlacements } from './placement.js';

const JOIN_TIMEOUT_MS = 10_000;

/** What the primary lends the handling of its member links. */
export interface MemberLinksDeps {
  host: ClusterHost;
  secret: string;
  /** Set on the acting secondary: the configured primary's address (its pin is handed on too). */
  actingFor?: string;
  /** The members whose links the primary holds, by address: this unit adds and removes them. */
  members: Map<string, MemberLink>;
  pending: PendingPlacements;
  opens: OpenWaiters;
  devices: DeviceReplication;
  /** The secondary's copy of the directory. */
  directory: DirectoryFeed;
  reports: MemberReports;
  epoch(): number;
  secondary(): string | undefined;
}

/**
 * A member's cluster link on the primary, from its first message to its close: the challenge, the
 * join (memberJoin.ts) and its answer, the member's reports (memberReports.ts), and, when the link
 * goes, what the primary held of that member.
 */
export function acceptMemberLink(deps: MemberLinksDeps, link: Link): void {
  const { host } = deps;
  const log = host.logger.child({ peer: link.remoteAddress, channel: 'cluster' });
  const nonce = newNonce();
  let member: MemberLink | undefined;
  const send = (message: PrimaryToMember) => link.send(message);
  const timer = setTimeout(() => link.close(CloseCodes.HELLO_TIMEOUT, 'no join in time'), JOIN_TIMEOUT_MS);
  send({ type: 'challenge', nonce, epoch: deps.epoch(), primary: host.advertise });

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
      const binding = link.channelBinding();
      const admitted = admitJoin(msg, link, { secret: deps.secret, nonce, binding, rows: host.store.servers() });
      if (isRefusal(admitted)) return refuse(admitted.code, admitted.reason);
      deps.members
        .get(msg.address)
        ?.link.close(CloseCodes.DUPLICATE_CLIENT, 'replaced by a newer link from the same server');
      member = admitted;
      deps.members.set(msg.address, member);
      // The member's key, announced over this authenticated link: vouched for to clients placed there.
      if (msg.fingerprint) host.learnPins({ [msg.address]: msg.fingerprint });
      send({
        type: 'accepted',
        proof: primaryProof(deps.secret, msg.nonce, host.advertise, binding),
        epoch: deps.epoch(),
        primary: host.advertise,
        secondary: deps.secondary(),
        pins: host.pinsOf([host.advertise, deps.secondary(), deps.actingFor]),
      });
      if (msg.configVersion !== host.store.version()) sendConfig(deps, member, host.store.snapshot());
      deps.devices.member(member.address, link, member.salt, mayAct(member, host.store.servers()));
      feedDirectory(deps, member, host.store.servers());
      log.info({ member: msg.address, configVersion: msg.configVersion }, 'member joined');
      return;
    }
    if (msg.type === 'join') return refuse(CloseCodes.BAD_MESSAGE, 'already joined');
    deps.reports.apply(member, msg, log);
  });

  link.onClose((code, reason) => {
    clearTimeout(timer);
    if (member) deps.reports.forget(member);
    if (!member || deps.members.get(member.address) !== member) return;
    deps.members.delete(member.address);
    deps.devices.left(member.address, link);
    deps.directory.left(member.address, link);
    host.broker.serverGone(member.address);
    const dropped = host.directory.dropServer(member.address);
    deps.pending.dropServer(member.address);
    deps.opens.memberGone(member.address);
    log.warn({ member: member.address, closeCode: code, reason, clientsDropped: dropped }, 'member link lost');
  });
}

function feedDirectory(deps: MemberLinksDeps, member: MemberLink, rows: readonly ServerRow[]): void {
  const secondary = rows.some((r) => r.address === member.address && r.secondary);
  deps.directory.member(member.address, member.link, secondary, member.version);
}

function sendConfig(deps: MemberLinksDeps, member: MemberLink, snapshot: ConfigSnapshot): void {
  member.link.send(configMessage(deps.secret, member, snapshot) satisfies PrimaryToMember);
}

/**
 * A new configuration for every linked member (its share: configReplication.ts), and what the
 * server table says of each at once: a removed member's link is closed, a disabled one drains.
 */
export function replicateToMembers(deps: MemberLinksDeps, snapshot: ConfigSnapshot): void {
  const rows = new Map(snapshot.servers.map((r) => [r.address, r]));
  for (const member of deps.members.values()) {
    feedDirectory(deps, member, snapshot.servers);
    if (member.standby) {
      sendConfig(deps, member, snapshot);
      deps.devices.member(member.address, member.link, member.salt, true);
      continue;
    }
    const row = rows.get(member.address);
    if (!row) {
      member.link.close(CloseCodes.NOT_IN_CLUSTER, `${member.address} was removed from the primary's server table`);
      continue;
    }
    sendConfig(deps, member, snapshot);
    deps.devices.member(member.address, member.link, member.salt, mayAct(member, snapshot.servers));
    if (row.enabled === member.draining) {
      member.draining = !row.enabled;
      member.link.send({ type: 'drain', draining: member.draining } satisfies PrimaryToMember);
      deps.host.logger.info(
        { member: member.address, draining: member.draining },
        member.draining ? 'member draining' : 'member enabled',
      );
    }
  }
}

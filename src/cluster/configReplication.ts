import { sealConfig, type PrimaryToMember } from '../protocol/clusterMessages.js';
import type { ConfigSnapshot, ServerRow } from '../store/configStore.js';
import type { MemberLink } from './memberLink.js';

/** Whether a member may answer controls one day (the secondary, a standby): it gets the secrets. */
export function mayAct(member: Pick<MemberLink, 'standby' | 'address'>, servers: readonly ServerRow[]): boolean {
  return member.standby || servers.some((r) => r.address === member.address && r.secondary);
}

/** Not a hash any password matches: an operator cannot log in on a server holding this. */
const WITHHELD = 'withheld';

/**
 * A member gets only what it needs. Every member gets the operator accounts (names, roles, keys),
 * but their secrets (password hashes, TOTP seeds) go only to the servers that may answer controls
 * one day: the secondary and a standby. Flagging another secondary bumps the version, so it then
 * receives them.
 */
export function snapshotFor(member: MemberLink, snapshot: ConfigSnapshot): ConfigSnapshot {
  if (mayAct(member, snapshot.servers)) return snapshot;
  return {
    ...snapshot,
    operators: snapshot.operators.map((op) => ({ ...op, passwordHash: WITHHELD, totpSecret: null })),
  };
}

/** The next configuration message on this member's link: its share of the snapshot, sealed and counted. */
export function configMessage(secret: string, member: MemberLink, snapshot: ConfigSnapshot): PrimaryToMember {
  member.configsSent++;
  return {
    type: 'config',
    sealed: sealConfig(secret, member.salt, member.configsSent, snapshotFor(member, snapshot)),
  };
}

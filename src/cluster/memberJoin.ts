import { CloseCodes } from '../protocol/closeCodes.js';
import { clusterProtocolRefusal } from '../protocol/clusterCompat.js';
import { linkSalt, memberProof, type MemberToPrimary } from '../protocol/clusterMessages.js';
import { proofMatches } from '../protocol/proof.js';
import type { Link } from '../net/link.js';
import type { ServerRow } from '../store/configStore.js';
import type { MemberLink } from './memberLink.js';

export type JoinMessage = Extract<MemberToPrimary, { type: 'join' }>;

export interface JoinRefusal {
  code: number;
  reason: string;
}

export interface JoinCheck {
  secret: string;
  /** The challenge's nonce, sent on this link. */
  nonce: string;
  /** The link's channel binding (its TLS session), which the member's proof covers. */
  binding: string;
  /** The primary's server table, as the store has it now. */
  rows: readonly ServerRow[];
}

/**
 * Whether the primary takes a member's join: a protocol it speaks, a proof of the cluster secret
 * over this link, and (but for a standby) an enabled row in the server table. Pure: the member it
 * would hold, or why not.
 */
export function admitJoin(msg: JoinMessage, link: Link, check: JoinCheck): MemberLink | JoinRefusal {
  const incompatible = clusterProtocolRefusal(msg.version);
  if (incompatible) return { code: CloseCodes.BAD_MESSAGE, reason: incompatible };
  if (!proofMatches(memberProof(check.secret, check.nonce, msg, check.binding), msg.proof))
    return { code: CloseCodes.CLUSTER_AUTH, reason: 'cluster secret not accepted' };
  const row = check.rows.find((s) => s.address === msg.address);
  const standby = msg.standby === true;
  if (!standby && !row)
    return { code: CloseCodes.NOT_IN_CLUSTER, reason: `${msg.address} is not in the primary's server table` };
  if (!standby && !row?.enabled)
    return { code: CloseCodes.NOT_IN_CLUSTER, reason: `${msg.address} is disabled in the primary's server table` };
  // What we had on this member stays browsable until its fresh list is whole (syncing).
  return {
    address: msg.address,
    standby,
    version: msg.version,
    link,
    salt: linkSalt(check.nonce, msg.nonce),
    configsSent: 0,
    fingerprint: msg.fingerprint,
    sessions: msg.sessions,
    draining: false,
    syncing: new Set(),
  };
}

export function isRefusal(result: MemberLink | JoinRefusal): result is JoinRefusal {
  return 'code' in result;
}

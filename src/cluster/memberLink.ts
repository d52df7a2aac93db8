import type { Link } from '../net/link.js';

/** What the primary knows of a member whose link it holds. */
export interface MemberLink {
  address: string;
  standby: boolean;
  /** The cluster protocol it joined with: what it understands (clusterMessages.ts). */
  version: number;
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

import type { ClusterHost } from '../server/role.js';

/**
 * The acting primary's announcement. A server that has just become the acting primary (the
 * secondary after a promotion, the primary after taking its role back) tells every other server of
 * the table at once, with its epoch. Without it a member finds the new acting primary only by its
 * retries, which alternate primary and secondary with a growing backoff: it may have been refused
 * by the secondary a moment before the promotion, and then wait a second or more before asking
 * again, while its clients are missing from the acting primary's directory.
 *
 * Best effort: a member that misses the announcement still finds the acting primary by its
 * retries, and the link itself is checked as always (secret proven, epoch not stale).
 */
export function announceActingPrimary(host: ClusterHost, epoch: number): void {
  const log = host.logger.child({ channel: 'cluster', epoch });
  for (const server of host.store.servers()) {
    if (!server.enabled || server.address === host.advertise) continue;
    host.callRpc(server.address, 'acting-primary', { epoch }).then(
      (answer) => log.debug({ member: server.address, answer }, 'announced the acting primary'),
      (err: Error) =>
        log.info(
          { member: server.address, err: err.message },
          'could not announce the acting primary; the member will find it by its retries',
        ),
    );
  }
}

export interface AnnouncementInput {
  /** Who announced itself (the signed `from` of the request) and its epoch. */
  from: string;
  epoch: number;
  /** The member's own view. */
  ourEpoch: number;
  primary: string;
  secondary: string | undefined;
  /** The acting primary whose link the member holds, if it holds one. */
  linkedTo: string | undefined;
  /** Where a link attempt in progress goes, if one is. */
  dialing: string | undefined;
}

export type AnnouncementAction = 'refuse' | 'ignore' | 'relink';

/**
 * What a member does when a server announces itself as the acting primary. Only the configured
 * primary and the secondary ever act as primary, and never with an epoch older than one the member
 * has seen. A member that holds a link keeps it: the announcement is a hint to stop waiting, not a
 * reason to leave a working primary (losing that link is what sends the member on).
 */
export function announcementDecision(input: AnnouncementInput): { action: AnnouncementAction; reason: string } {
  const { from, epoch } = input;
  if (from !== input.primary && from !== input.secondary)
    return { action: 'refuse', reason: `${from} is neither the primary nor the secondary` };
  if (!Number.isInteger(epoch) || epoch < input.ourEpoch)
    return { action: 'refuse', reason: `epoch ${epoch} is older than ${input.ourEpoch}` };
  if (input.linkedTo !== undefined)
    return {
      action: 'ignore',
      reason: input.linkedTo === from ? 'already linked to it' : `linked to ${input.linkedTo}`,
    };
  if (input.dialing === from) return { action: 'ignore', reason: 'already dialling it' };
  return { action: 'relink', reason: input.dialing ? `was dialling ${input.dialing}` : 'was waiting to retry' };
}

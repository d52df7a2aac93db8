import { MAX_RETURN_MEMBERS } from '../protocol/messages.js';
import type { ServerRow } from '../store/configStore.js';
import type { ClusterAddresses } from './role.js';

/**
 * The members a welcome names, for a client to return to straight away if it loses the primary
 * (src/net/serverList.ts): the enabled servers of the table that take clients (weight above 0),
 * besides the primary and the secondary, which the welcome names already. None outside a cluster.
 * At most MAX_RETURN_MEMBERS, so that the welcome's pins vouch for every server it names; in a
 * larger cluster the clients of a lost primary that find none of these go on through the secondary.
 */
export function returnMembers(addresses: ClusterAddresses, table: readonly ServerRow[]): string[] | undefined {
  if (!addresses.primary) return undefined;
  const members = table
    .filter((s) => s.enabled && s.weight > 0 && s.address !== addresses.primary && s.address !== addresses.secondary)
    .map((s) => s.address);
  return members.slice(0, MAX_RETURN_MEMBERS);
}

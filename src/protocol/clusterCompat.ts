import { CLUSTER_PROTOCOL_VERSION } from './clusterMessages.js';

/**
 * The compatibility rule of the cluster protocol, so a cluster can be upgraded one server at a
 * time: servers whose protocol versions are adjacent (differ by at most one) interoperate; a
 * release that changes the protocol keeps understanding the previous version, and drops it only in
 * the version after. Version 2 is the floor: version 1 neither seals the configuration nor binds
 * the link's proofs to TLS, and a version 2 server must not speak it.
 */
export const MIN_CLUSTER_PROTOCOL = 2;

/** Why a peer speaking protocol `theirs` cannot join, or undefined when it may. */
export function clusterProtocolRefusal(theirs: number, ours = CLUSTER_PROTOCOL_VERSION): string | undefined {
  if (theirs >= MIN_CLUSTER_PROTOCOL && Math.abs(theirs - ours) <= 1) return undefined;
  // A WebSocket close reason holds 123 bytes: this stays well within it.
  return `cluster protocol ${theirs} is not compatible with this primary's ${ours} (accepted: ${Math.max(MIN_CLUSTER_PROTOCOL, ours - 1)}-${ours + 1}): upgrade one release at a time`;
}

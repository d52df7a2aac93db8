import { createHash } from 'node:crypto';

/**
 * The order in which a client that lost its primary tries the other servers of its cluster:
 * rendezvous (highest-random-weight) hashing of its id with each address. Every client has its own
 * order, so a fleet cut off at once spreads evenly over the servers that remain instead of queueing
 * at the secondary; and a server joining or leaving the list moves only the clients whose first
 * choice it is. Pure: the same id and list give the same order on every run and every machine.
 */
export function returnOrder(clientId: string, servers: readonly string[]): string[] {
  return [...new Set(servers)]
    .map((address) => ({ address, score: createHash('sha256').update(`${clientId}\n${address}`).digest('hex') }))
    .sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0))
    .map((s) => s.address);
}

import { compareClients, type SortKey } from '../console/naturalOrder.js';
import { decodeCursor, encodeCursor } from './browseCursor.js';
import { smallestFirst } from './smallestFirst.js';

/** A page of the directory and, when more follow, the cursor of the next one. */
export interface Page<T> {
  clients: T[];
  next?: string;
}

/**
 * One page of `limit` items in the directory's order, starting after `cursor` (the first page
 * without one). Items are filtered by the caller; this only places the window. An arrival before
 * the cursor's place is simply not on the later pages; one after it is, once: pages never repeat
 * or skip a client that stayed.
 */
export function pageOf<T extends SortKey>(items: Iterable<T>, limit: number, cursor?: string): Page<T> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const rest = after ? keepAfter(items, after) : items;
  // One more than asked says whether a next page exists without a second pass.
  const found = smallestFirst(rest, limit + 1, compareClients);
  if (found.length <= limit) return { clients: found };
  const clients = found.slice(0, limit);
  return { clients, next: encodeCursor(clients[clients.length - 1]!) };
}

function* keepAfter<T extends SortKey>(items: Iterable<T>, after: SortKey): Iterable<T> {
  for (const item of items) if (compareClients(item, after) > 0) yield item;
}

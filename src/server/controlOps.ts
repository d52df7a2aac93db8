import type { Duplex } from 'node:stream';
import { toClientInfo, type BrowseFilter, type Directory, type DirectoryEntry } from './directory.js';
import { compareClients } from '../console/naturalOrder.js';
import { CLIENT_STATES, DEFAULT_CLIENT_STATE, isClientState, type ClientState } from '../protocol/clientStates.js';
import { pageOf, type Page } from './clientPage.js';
import { looksLikeClientId } from '../protocol/clientIdentity.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { BrowsePage, ClientInfo, SessionTarget } from '../protocol/messages.js';
import type { ServerContext } from './context.js';

/**
 * What a control may do, decided once for both ways in: the WebSocket control channel and the REST
 * API. `keys` is the set of keys whose clients the caller may see; undefined means every key (an
 * admin in the console).
 */
export type VisibleKeys = ReadonlySet<string> | undefined;

/** What a listing asks for: the filters, and a page (limit, cursor) or, without limit, everything. */
export interface ClientQuery {
  group?: string;
  filter?: string;
  state?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Where the clients of each state come from. A new state (offline, pending) adds its name to
 * CLIENT_STATES and its source here; the filters, the order and the paging then apply to it alike.
 */
const sources: Record<ClientState, (directory: Directory, filter: BrowseFilter) => Iterable<DirectoryEntry>> = {
  online: (directory, filter) => directory.matching(filter),
};

function stateOf(text: string | undefined): ClientState {
  if (text === undefined) return DEFAULT_CLIENT_STATE;
  if (!isClientState(text))
    throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `unknown state ${text}: one of ${CLIENT_STATES.join(', ')}`);
  return text;
}

/** The clients a caller may see, narrowed by state, group and a free-text filter, in the one client order. */
export function visibleClients(directory: Directory, keys: VisibleKeys, query: ClientQuery): DirectoryEntry[] {
  const { group, filter } = query;
  return [...sources[stateOf(query.state)](directory, { keys, group, filter })].sort(compareClients);
}

/** One page of the clients a caller may see (see clientPage.ts for how the cursor holds its place). */
export function visiblePage(
  directory: Directory,
  keys: VisibleKeys,
  query: ClientQuery & { limit: number },
): Page<DirectoryEntry> {
  const { group, filter } = query;
  return pageOf(sources[stateOf(query.state)](directory, { keys, group, filter }), query.limit, query.cursor);
}

/**
 * `browse`: the visible clients in their public shape. Without `limit`, all of them (what controls
 * before paging asked for and still get); with it, one page and the cursor of the next.
 */
export function browseClients(directory: Directory, keys: VisibleKeys, query: ClientQuery): ClientInfo[] | BrowsePage {
  if (query.limit === undefined) return visibleClients(directory, keys, query).map(toClientInfo);
  const page = visiblePage(directory, keys, { ...query, limit: query.limit });
  return { ...page, clients: page.clients.map(toClientInfo) };
}

/** Finds the one client a caller means (id, or unique name among the clients it may see). */
export function findClient(directory: Directory, nameOrId: string, keys: VisibleKeys): DirectoryEntry {
  const { entry, ambiguous } = directory.resolve(nameOrId, keys);
  if (ambiguous)
    throw new SwitchboardError(ErrorCodes.AMBIGUOUS_CLIENT, `${ambiguous} clients are named ${nameOrId}; use the id`);
  if (!entry) {
    // Say how the text was read: a name shaped like an id is never looked up (Directory.resolve).
    const what = looksLikeClientId(nameOrId)
      ? `with id ${nameOrId} (text shaped like an id is looked up as an id only)`
      : nameOrId;
    throw new SwitchboardError(ErrorCodes.UNKNOWN_CLIENT, `no client ${what}`);
  }
  return entry;
}

/** Opens the far end of a session to a client the caller may reach, wherever it is in the cluster. */
export function openFarEnd(
  ctx: Pick<ServerContext, 'directory' | 'behaviour'>,
  client: string,
  keys: VisibleKeys,
  target: SessionTarget,
  operator: string,
): Promise<{ entry: DirectoryEntry; far: Duplex }> {
  const entry = findClient(ctx.directory, client, keys);
  return ctx.behaviour.openFarEnd(entry, target, operator).then((far) => ({ entry, far }));
}

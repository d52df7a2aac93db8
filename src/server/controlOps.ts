import type { Duplex } from 'node:stream';
import { toClientInfo, type Directory, type DirectoryEntry } from './directory.js';
import { looksLikeClientId } from '../protocol/clientIdentity.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ClientInfo, SessionTarget } from '../protocol/messages.js';
import type { ServerContext } from './context.js';

/**
 * What a control may do, decided once for both ways in: the WebSocket control channel and the REST
 * API. `keys` is the set of keys whose clients the caller may see; undefined means every key (an
 * admin in the console).
 */
export type VisibleKeys = ReadonlySet<string> | undefined;

/** The clients a caller may see, narrowed by group and a free-text filter, sorted by name. */
export function visibleClients(
  directory: Directory,
  keys: VisibleKeys,
  params: { group?: string; filter?: string },
): DirectoryEntry[] {
  return directory.list({ keys, ...params });
}

/** `browse`: the visible clients in their public shape. */
export function browseClients(
  directory: Directory,
  keys: VisibleKeys,
  params: { group?: string; filter?: string },
): ClientInfo[] {
  return visibleClients(directory, keys, params).map(toClientInfo);
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

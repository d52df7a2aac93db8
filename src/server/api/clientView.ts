import type { DirectoryEntry } from '../directory.js';
import type { ClientInfo } from '../../protocol/messages.js';
import { toClientInfo } from '../directory.js';

/**
 * A client as the API shows it: the `browse --json` shape, plus what the client's own policy allows,
 * so the console offers only the actions the client would accept.
 */
export interface ClientView extends ClientInfo {
  allowExec: boolean;
  allowForward: number[];
}

export function toClientView(entry: DirectoryEntry): ClientView {
  return { ...toClientInfo(entry), allowExec: entry.allowExec ?? false, allowForward: entry.allowForward ?? [] };
}

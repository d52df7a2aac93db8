import type { ControlClient } from '../control/controlClient.js';
import { MAX_BROWSE_PAGE, type ClientInfo } from '../protocol/messages.js';
import { table } from './common.js';

/** How many clients `control browse` asks for at a time when it pages by itself. */
export const AUTO_PAGE_SIZE = 1000;

export interface BrowseFlags {
  json?: boolean;
  group?: string;
  filter?: string;
  state?: string;
  limit?: string;
  cursor?: string;
  /** Offline devices too (`--all`): one unpaged answer, with when each was last seen. */
  all?: boolean;
}

export function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_BROWSE_PAGE)
    throw new Error(`--limit must be a whole number from 1 to ${MAX_BROWSE_PAGE} (got ${text})`);
  return n;
}

const HEADER = ['NAME', 'ID', 'GROUP', 'PLATFORM', 'ADDRESS', 'SERVER', 'CONNECTED'];
const row = (c: ClientInfo) => [c.name, c.id, c.group, c.platform, c.address, c.server, c.connectedAt];

/** An array element as `JSON.stringify(array, null, 2)` would print it, so paged output reads the same. */
function arrayElement(client: ClientInfo): string {
  return JSON.stringify(client, null, 2).replace(/^/gm, '  ');
}

/**
 * `control browse`. With --limit: that one page, and the cursor of the next (in the JSON, or on
 * stderr under the table). Without: every page in turn; --json still prints one array, written
 * page by page, so a large fleet never has to be held in one message or one string.
 */
export async function runBrowse(
  client: ControlClient,
  flags: BrowseFlags,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  pageSize = AUTO_PAGE_SIZE,
): Promise<void> {
  if (flags.all) return printWithOffline(client, flags, out);
  const filters = { group: flags.group, filter: flags.filter, state: flags.state };
  if (flags.cursor !== undefined && flags.limit === undefined)
    throw new Error('--cursor needs --limit (the page size the cursor was taken with, or another)');
  if (flags.limit !== undefined) {
    const page = await client.browsePage({ ...filters, limit: parseLimit(flags.limit), cursor: flags.cursor });
    if (flags.json)
      return void out.write(JSON.stringify({ clients: page.clients, next: page.next ?? null }, null, 2) + '\n');
    out.write(table(HEADER, page.clients.map(row)) + '\n');
    if (page.next !== undefined) err.write(`next page: --cursor ${page.next}\n`);
    return;
  }
  if (!flags.json) {
    const all: ClientInfo[] = [];
    for await (const clients of client.browsePages({ ...filters, limit: pageSize })) all.push(...clients);
    return void out.write(table(HEADER, all.map(row)) + '\n');
  }
  let first = true;
  for await (const clients of client.browsePages({ ...filters, limit: pageSize })) {
    for (const c of clients) {
      out.write((first ? '[\n' : ',\n') + arrayElement(c));
      first = false;
    }
  }
  out.write(first ? '[]\n' : '\n]\n');
}

/** `control browse --all`: the online clients, then the offline devices with when each was last seen. */
async function printWithOffline(client: ControlClient, flags: BrowseFlags, out: NodeJS.WritableStream): Promise<void> {
  if (flags.limit !== undefined || flags.cursor !== undefined || flags.state !== undefined)
    throw new Error('--all lists every device in one answer: it takes no --limit, --cursor or --state');
  const clients = await client.browse({ group: flags.group, filter: flags.filter, all: true });
  if (flags.json) return void out.write(JSON.stringify(clients, null, 2) + '\n');
  const rows = clients.map((c) => {
    const offline = c.state === 'offline';
    return [...row(c).slice(0, -1), offline ? 'offline' : c.connectedAt, offline ? (c.lastSeen ?? '') : 'now'];
  });
  out.write(table([...HEADER, 'LAST SEEN'], rows) + '\n');
}

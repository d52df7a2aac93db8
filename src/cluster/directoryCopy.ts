import type { PrimaryToMember } from '../protocol/clusterMessages.js';
import type { DirectoryEntry } from '../server/directory.js';

type DirectoryMessage = Extract<PrimaryToMember, { type: 'directory' }>;

/**
 * The secondary's side of the directory feed (directoryFeed.ts): the acting primary's clients as it
 * last told them, kept in memory while the secondary is a member. When it takes over, the members'
 * clients are listed from here at once; each member's own list replaces its share when it re-links,
 * and the share of a member that does not come back in time is dropped (PrimaryRole's `inherit`).
 */
export class DirectoryCopy {
  private readonly entries = new Map<string, DirectoryEntry>();

  get size(): number {
    return this.entries.size;
  }

  apply(msg: DirectoryMessage): void {
    if (msg.reset) this.entries.clear();
    for (const id of msg.down) this.entries.delete(id);
    for (const entry of msg.up) this.entries.set(entry.id, entry);
  }

  /** A new link: nothing is kept from the last one until its copy arrives. */
  clear(): void {
    this.entries.clear();
  }

  /** Every client the copy holds on a server other than `except`; the copy is emptied. */
  take(except: ReadonlySet<string>): DirectoryEntry[] {
    const out = [...this.entries.values()].filter((e) => !except.has(e.server));
    this.entries.clear();
    return out;
  }
}

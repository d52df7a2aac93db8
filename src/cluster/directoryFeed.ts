import { DIRECTORY_FEED_VERSION, type PrimaryToMember } from '../protocol/clusterMessages.js';
import type { Directory, DirectoryEntry } from '../server/directory.js';
import type { Link } from '../net/link.js';
import { clientBatches } from './clientBatches.js';
import { ClientChanges } from './clientChanges.js';

/** How long the directory's changes are gathered before they go to the secondary in one message. */
const FEED_EVERY_MS = 50;

/**
 * The primary's side of the secondary's copy of the directory: on its join the whole list, then
 * what changes, gathered for a moment. A secondary that takes over lists every member's clients at
 * once (directoryCopy.ts) instead of only as each member re-links and sends its list, which after a
 * kill -9 of a fleet's primary came 2.5 to 6 s later, behind the returning clients.
 *
 * Fed only to the secondary, and only one that speaks protocol 3 (a 2 refuses unknown messages).
 * The entries are what members report on the same links unsealed; nothing secret is added.
 */
export class DirectoryFeed {
  /** The secondary's link by its address: one, or none; more only while the flag moves. */
  private readonly readers = new Map<string, Link>();
  private readonly changes = new ClientChanges();
  private timer: NodeJS.Timeout | undefined;
  private readonly onUp = (entry: DirectoryEntry) => this.changed(() => this.changes.up(entry));
  private readonly onDown = (entry: DirectoryEntry) => this.changed(() => this.changes.down(entry.id));

  constructor(
    private readonly directory: Directory,
    private readonly everyMs = FEED_EVERY_MS,
  ) {}

  /** A member linked, or its flags changed: a secondary of protocol 3 or later is fed, once per link. */
  member(address: string, link: Link, secondary: boolean, version: number): void {
    if (!secondary || version < DIRECTORY_FEED_VERSION) return this.left(address, link);
    if (this.readers.get(address) === link) return;
    if (this.readers.size === 0) {
      this.directory.on('up', this.onUp);
      this.directory.on('down', this.onDown);
    }
    this.readers.set(address, link);
    // Changes gathered before now and sent after this copy only repeat what it already holds.
    const batches = clientBatches([...this.directory.matching()]);
    batches.forEach((up, i) =>
      link.send({ type: 'directory', reset: i === 0, down: [], up } satisfies PrimaryToMember),
    );
  }

  left(address: string, link?: Link): void {
    if (link && this.readers.get(address) !== link) return;
    if (!this.readers.delete(address) || this.readers.size > 0) return;
    this.directory.off('up', this.onUp);
    this.directory.off('down', this.onDown);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.changes.clear();
  }

  stop(): void {
    for (const address of [...this.readers.keys()]) this.left(address);
  }

  private changed(record: () => void): void {
    record();
    this.timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  private flush(): void {
    this.timer = undefined;
    const batches = this.changes.take();
    for (const link of this.readers.values())
      for (const batch of batches) link.send({ type: 'directory', reset: false, ...batch } satisfies PrimaryToMember);
  }
}

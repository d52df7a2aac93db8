import { compareClients } from './naturalOrder.js';
import { applySorted, placeOf } from './sortedBatch.js';

/** What the list needs of a client: its sort key and the fields a search looks in. */
export interface Listed {
  id: string;
  name: string;
  group: string;
  platform: string;
  address: string;
  server: string;
}

/** The search box and the group choice. `group` undefined: every group; '' : clients without one. */
export interface ListFilter {
  text: string;
  group?: string;
}

export function matches(c: Listed, filter: ListFilter): boolean {
  if (filter.group !== undefined && c.group !== filter.group) return false;
  const text = filter.text;
  if (!text) return true;
  return [c.name, c.id, c.group, c.platform, c.address, c.server].some((f) => f.toLowerCase().includes(text));
}

/**
 * What changed since the last batch, by client id: the client as it is now, or undefined for one
 * that left. The last word on an id wins, so a client that came and went meanwhile is one change.
 */
export type Changes<T> = ReadonlyMap<string, T | undefined>;

/**
 * The console's model of the client list, kept sorted and filtered as changes come in, a batch at a
 * time (sortedBatch.ts): a few arrivals cost a binary search and an array insert each, a burst one
 * merge, never a sort or a filter of everyone (60,000 clients and 1,000 arrivals a second). No DOM:
 * the page draws `shown` as it likes.
 */
export class ClientList<T extends Listed> {
  private readonly byId = new Map<string, T>();
  private sorted: T[] = [];
  /** The clients the filter lets through, in order: `sorted` itself when nothing is filtered. */
  private filtered: T[] | undefined;
  private filter: ListFilter = { text: '' };
  private readonly groupCounts = new Map<string, number>();
  /** Bumped when a group appears or disappears, so the page rebuilds its group choices only then. */
  groupsVersion = 0;

  get size(): number {
    return this.byId.size;
  }

  get shown(): readonly T[] {
    return this.filtered ?? this.sorted;
  }

  /** Every client's id (filtered or not). */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  groups(): string[] {
    return [...this.groupCounts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Where the client with this id is in `shown`, or -1 (not listed, or filtered out). */
  indexOf(id: string): number {
    const client = this.byId.get(id);
    if (!client) return -1;
    const at = placeOf(this.shown, client, compareClients);
    return this.shown[at] === client ? at : -1;
  }

  upsert(client: T): void {
    this.apply(new Map([[client.id, client]]));
  }

  remove(id: string): boolean {
    if (!this.byId.has(id)) return false;
    this.apply(new Map([[id, undefined]]));
    return true;
  }

  /** Applies a batch of changes: one pass over the list (or a few splices), however many they are. */
  apply(changes: Changes<T>): void {
    const gone = new Set<T>();
    const added: T[] = [];
    for (const [id, now] of changes) {
      const before = this.byId.get(id);
      if (before) {
        gone.add(before);
        this.byId.delete(id);
        this.countGroup(before.group, -1);
      }
      if (now) {
        this.byId.set(id, now);
        added.push(now);
        this.countGroup(now.group, 1);
      }
    }
    this.sorted = applySorted(this.sorted, gone, added, compareClients);
    if (this.filtered)
      this.filtered = applySorted(
        this.filtered,
        gone,
        added.filter((c) => matches(c, this.filter)),
        compareClients,
      );
  }

  clear(): void {
    this.byId.clear();
    this.sorted.length = 0;
    if (this.filtered) this.filtered.length = 0;
    this.groupCounts.clear();
    this.groupsVersion++;
  }

  setFilter(filter: ListFilter): void {
    this.filter = { text: filter.text.trim().toLowerCase(), group: filter.group };
    const active = this.filter.text !== '' || this.filter.group !== undefined;
    this.filtered = active ? this.sorted.filter((c) => matches(c, this.filter)) : undefined;
  }

  private countGroup(group: string, delta: number): void {
    const n = (this.groupCounts.get(group) ?? 0) + delta;
    if (n > 0 && !this.groupCounts.has(group)) this.groupsVersion++;
    if (n <= 0) {
      this.groupCounts.delete(group);
      this.groupsVersion++;
    } else this.groupCounts.set(group, n);
  }
}

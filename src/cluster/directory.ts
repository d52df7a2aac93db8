import type { ClientInfo } from '../protocol/messages.js';

/** A client as the directory holds it: what a control may see, plus the key that decides who may. */
export interface DirectoryEntry extends ClientInfo {
  key: string;
}

export interface BrowseFilter {
  /** Only clients of these keys; undefined means every key (an admin in the console). */
  keys?: ReadonlySet<string>;
  group?: string;
  filter?: string;
}

/**
 * Which client is on which server. The acting primary holds the whole cluster's; a server holds
 * its own clients' too. Soft state: rebuilt from the servers' own lists whenever they (re)join.
 */
export class Directory {
  private readonly entries = new Map<string, DirectoryEntry>();
  /** Clients per server, kept as entries change: placement reads it on every arrival. */
  private readonly perServer = new Map<string, number>();

  get size(): number {
    return this.entries.size;
  }

  get(id: string): DirectoryEntry | undefined {
    return this.entries.get(id);
  }

  upsert(entry: DirectoryEntry): void {
    const before = this.entries.get(entry.id);
    if (before) this.count(before.server, -1);
    this.entries.set(entry.id, entry);
    this.count(entry.server, 1);
  }

  /** Removes the client only if it is still recorded on that server (a newer placement wins). */
  remove(id: string, server?: string): boolean {
    const entry = this.entries.get(id);
    if (!entry || (server !== undefined && entry.server !== server)) return false;
    this.count(entry.server, -1);
    return this.entries.delete(id);
  }

  private count(server: string, delta: number): void {
    const n = (this.perServer.get(server) ?? 0) + delta;
    if (n === 0) this.perServer.delete(server);
    else this.perServer.set(server, n);
  }

  clientsOn(server: string): number {
    return this.perServer.get(server) ?? 0;
  }

  /** Replaces everything recorded for one server with its current list; returns what changed. */
  replaceServer(server: string, entries: DirectoryEntry[]): { added: number; removed: number } {
    let removed = 0;
    const incoming = new Set(entries.map((e) => e.id));
    for (const [id, entry] of this.entries) {
      if (entry.server === server && !incoming.has(id)) {
        this.remove(id);
        removed++;
      }
    }
    let added = 0;
    for (const entry of entries) {
      if (!this.entries.has(entry.id)) added++;
      this.upsert(entry);
    }
    return { added, removed };
  }

  dropServer(server: string): number {
    return this.replaceServer(server, []).removed;
  }

  countByServer(): Map<string, number> {
    return new Map(this.perServer);
  }

  list(filter: BrowseFilter = {}): DirectoryEntry[] {
    const text = filter.filter?.toLowerCase();
    const out: DirectoryEntry[] = [];
    for (const entry of this.entries.values()) {
      if (filter.keys && !filter.keys.has(entry.key)) continue;
      if (filter.group !== undefined && entry.group !== filter.group) continue;
      if (text && ![entry.id, entry.name, entry.group, entry.platform, entry.address, entry.server].some((f) => f.toLowerCase().includes(text))) continue;
      out.push(entry);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  /**
   * Finds one client by id, or by name when the name is unique among the clients the caller may see.
   */
  resolve(nameOrId: string, keys?: ReadonlySet<string>): { entry?: DirectoryEntry; ambiguous?: number } {
    const byId = this.entries.get(nameOrId);
    if (byId && (!keys || keys.has(byId.key))) return { entry: byId };
    const matches = this.list({ keys }).filter((e) => e.name === nameOrId);
    if (matches.length === 1) return { entry: matches[0] };
    return matches.length > 1 ? { ambiguous: matches.length } : {};
  }
}

/** The public shape of an entry: the key name stays inside the server. */
export function toClientInfo({ key: _key, ...info }: DirectoryEntry): ClientInfo {
  return info;
}

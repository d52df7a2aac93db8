import { EventEmitter } from 'node:events';
import { looksLikeClientId } from '../protocol/clientIdentity.js';
import type { ClientInfo } from '../protocol/messages.js';
import { compareClients } from '../console/naturalOrder.js';

/** A client as the directory holds it: what a control may see, plus the key that decides who may. */
export interface DirectoryEntry extends ClientInfo {
  key: string;
  /**
   * The client's own policy as it announced it, so that a console offers only what the client
   * allows (the client still checks every session itself). Optional: older members omit it.
   */
  allowExec?: boolean;
  allowForward?: number[];
}

/**
 * Decides, as a client arrives, how the directory holds it (deviceRegistry.ts): under an admin's
 * name, and hidden (a device pending approval: in the counts, never browsed or opened).
 */
export interface DirectoryGate {
  arrive(entry: DirectoryEntry): GateDecision;
  /** As `arrive` for each, in order: a batch (a member's list) decided with one read of the records. */
  arriveMany(entries: readonly DirectoryEntry[]): GateDecision[];
}

export interface GateDecision {
  entry: DirectoryEntry;
  hidden: boolean;
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
export class Directory extends EventEmitter<{
  up: [entry: DirectoryEntry];
  down: [entry: DirectoryEntry];
  /** A hidden entry went (live views never saw it; the device registry records when it was last seen). */
  hiddenDown: [entry: DirectoryEntry];
}> {
  private readonly entries = new Map<string, DirectoryEntry>();
  /** Clients per server, kept as entries change: placement reads it on every arrival. */
  private readonly perServer = new Map<string, number>();
  /** Ids of entries held but not shown (pending devices): no browse, no session, no live event. */
  private readonly hidden = new Set<string>();
  gate: DirectoryGate | undefined;

  get size(): number {
    return this.entries.size;
  }

  get(id: string): DirectoryEntry | undefined {
    return this.entries.get(id);
  }

  /** Whether this very connection of the client is held already: same server, same time of connecting. */
  holdsConnection(entry: DirectoryEntry): boolean {
    const held = this.entries.get(entry.id);
    return held !== undefined && held.server === entry.server && held.connectedAt === entry.connectedAt;
  }

  upsert(arriving: DirectoryEntry): void {
    this.hold(arriving, this.gate?.arrive(arriving));
  }

  /** As `upsert` for each, in order; the gate decides them as one batch. */
  upsertMany(arriving: readonly DirectoryEntry[]): void {
    const held = this.gate?.arriveMany(arriving);
    arriving.forEach((entry, i) => this.hold(entry, held?.[i]));
  }

  private hold(arriving: DirectoryEntry, held: GateDecision | undefined): void {
    let entry = arriving;
    if (held) {
      entry = held.entry;
      if (held.hidden) this.hidden.add(entry.id);
      else this.hidden.delete(entry.id);
    }
    const before = this.entries.get(entry.id);
    if (before) this.count(before.server, -1);
    this.entries.set(entry.id, entry);
    this.count(entry.server, 1);
    // Live views (the console's event stream) follow the directory rather than each role's code path.
    if (!this.hidden.has(entry.id)) this.emit('up', entry);
  }

  isHidden(id: string): boolean {
    return this.hidden.has(id);
  }

  /** Shows a hidden entry (a device just approved), or replaces a shown one's details (a rename). */
  reveal(entry: DirectoryEntry): void {
    if (!this.entries.has(entry.id)) return;
    this.hidden.delete(entry.id);
    this.entries.set(entry.id, entry);
    this.emit('up', entry);
  }

  /** Every entry, hidden ones included (the device list marks them online). */
  all(): IterableIterator<DirectoryEntry> {
    return this.entries.values();
  }

  /** Removes the client only if it is still recorded on that server (a newer placement wins). */
  remove(id: string, server?: string): boolean {
    const entry = this.entries.get(id);
    if (!entry || (server !== undefined && entry.server !== server)) return false;
    this.count(entry.server, -1);
    this.entries.delete(id);
    if (!this.hidden.delete(id)) this.emit('down', entry);
    else this.emit('hiddenDown', entry);
    return true;
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
    const removed = this.retainOnServer(server, new Set(entries.map((e) => e.id)));
    let added = 0;
    for (const entry of entries) if (!this.entries.has(entry.id)) added++;
    this.upsertMany(entries);
    return { added, removed };
  }

  /** Forgets the clients recorded on one server except those in `keep`; returns how many went. */
  retainOnServer(server: string, keep: ReadonlySet<string>): number {
    let removed = 0;
    for (const [id, entry] of this.entries) {
      if (entry.server === server && !keep.has(id)) {
        this.remove(id);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets every client that is not on this server (a primary stepping down to member). */
  retainOnly(server: string): void {
    for (const entry of [...this.entries.values()]) if (entry.server !== server) this.remove(entry.id);
  }

  dropServer(server: string): number {
    return this.replaceServer(server, []).removed;
  }

  countByServer(): Map<string, number> {
    return new Map(this.perServer);
  }

  /** Every entry the filter lets through, in no order (a page picks its window from these). */
  *matching(filter: BrowseFilter = {}): Generator<DirectoryEntry> {
    const text = filter.filter?.toLowerCase();
    for (const entry of this.entries.values()) {
      if (this.hidden.has(entry.id)) continue;
      if (filter.keys && !filter.keys.has(entry.key)) continue;
      if (filter.group !== undefined && entry.group !== filter.group) continue;
      if (
        text &&
        ![entry.id, entry.name, entry.group, entry.platform, entry.address, entry.server].some((f) =>
          f.toLowerCase().includes(text),
        )
      )
        continue;
      yield entry;
    }
  }

  /** The entries the filter lets through, in the one client order (natural by name, then id). */
  list(filter: BrowseFilter = {}): DirectoryEntry[] {
    return [...this.matching(filter)].sort(compareClients);
  }

  /**
   * Finds one client by id, or by name when the name is unique among the clients the caller may see.
   * A string shaped like an id means that identity only, online or not: were it also matched
   * against names, a client could name itself after an offline client's id and get its sessions.
   */
  resolve(nameOrId: string, keys?: ReadonlySet<string>): { entry?: DirectoryEntry; ambiguous?: number } {
    const byId = this.entries.get(nameOrId);
    if (byId && !this.hidden.has(nameOrId) && (!keys || keys.has(byId.key))) return { entry: byId };
    if (looksLikeClientId(nameOrId)) return {};
    const matches = this.list({ keys }).filter((e) => e.name === nameOrId);
    if (matches.length === 1) return { entry: matches[0] };
    return matches.length > 1 ? { ambiguous: matches.length } : {};
  }
}

/** The public shape of an entry (`browse --json`): the key name stays inside the server. */
export function toClientInfo({ key: _key, allowExec: _e, allowForward: _f, ...info }: DirectoryEntry): ClientInfo {
  return info;
}

import type { Client } from './api.js';

/**
 * The clients ticked in the Clients tab, kept by id (rows come and go as the list scrolls, the
 * choice stays). Other pages ("run on selected") read it through `selectedClients()`.
 */
export class Selection {
  private readonly ids = new Set<string>();
  constructor(private readonly lookup: (id: string) => Client | undefined) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  set(id: string, on: boolean): void {
    if (on) this.ids.add(id);
    else this.ids.delete(id);
  }

  clear(): void {
    this.ids.clear();
  }

  get size(): number {
    return this.ids.size;
  }

  /** The ticked clients still connected, in no particular order. */
  clients(): Client[] {
    return [...this.ids].map((id) => this.lookup(id)).filter((c): c is Client => c !== undefined);
  }
}

let current: Selection | undefined;

/** The Clients tab registers its selection here while it is shown. */
export function useSelection(selection: Selection | undefined): void {
  current = selection;
}

/** The clients ticked in the Clients tab (none when it is not shown). */
export function selectedClients(): Client[] {
  return current?.clients() ?? [];
}

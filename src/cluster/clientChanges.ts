import { CLIENT_BATCH_BYTES } from './clientBatches.js';
import type { DirectoryEntry } from '../server/directory.js';

export interface ClientChangeBatch {
  /** Clients that left (and may have come back since: then they are in `up` too). */
  down: string[];
  /** Clients as they are now, arrived or arrived again. */
  up: DirectoryEntry[];
}

/**
 * A member's reports of clients arriving and leaving, gathered for a moment and sent to the primary
 * together. One message a client made a burst of arrivals cost a frame, a write system call and a
 * decode each (on a loopback link, about a third of a member's CPU per placed client). Per client
 * only what the primary must do is kept: whether it left (its sessions on the primary must end), and
 * its entry if it is here now. The primary applies the departures first, then the arrivals.
 */
export class ClientChanges {
  private readonly pending = new Map<string, { down: boolean; up?: DirectoryEntry }>();

  get size(): number {
    return this.pending.size;
  }

  up(entry: DirectoryEntry): void {
    const change = this.pending.get(entry.id);
    if (change) change.up = entry;
    else this.pending.set(entry.id, { down: false, up: entry });
  }

  down(id: string): void {
    const change = this.pending.get(id);
    if (change) {
      change.down = true;
      change.up = undefined;
    } else this.pending.set(id, { down: true });
  }

  clear(): void {
    this.pending.clear();
  }

  /** Everything gathered, as batches that each fit in one cluster message; nothing is left. */
  take(budget = CLIENT_BATCH_BYTES): ClientChangeBatch[] {
    const batches: ClientChangeBatch[] = [];
    let batch: ClientChangeBatch = { down: [], up: [] };
    let size = 0;
    const add = (bytes: number, put: (b: ClientChangeBatch) => void) => {
      if (size + bytes > budget && (batch.down.length > 0 || batch.up.length > 0)) {
        batches.push(batch);
        batch = { down: [], up: [] };
        size = 0;
      }
      put(batch);
      size += bytes;
    };
    for (const [id, change] of this.pending) {
      if (change.down) add(Buffer.byteLength(id) + 3, (b) => b.down.push(id));
      const entry = change.up;
      if (entry) add(Buffer.byteLength(JSON.stringify(entry)) + 1, (b) => b.up.push(entry));
    }
    this.pending.clear();
    if (batch.down.length > 0 || batch.up.length > 0) batches.push(batch);
    return batches;
  }
}

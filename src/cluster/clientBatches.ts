import { MAX_MESSAGE_BYTES } from '../protocol/messages.js';
import type { DirectoryEntry } from '../server/directory.js';

/**
 * Room for entries in one `clients` message: the message limit less space for the envelope. Any
 * single entry is far smaller (its schema bounds every field), so each batch holds at least one.
 */
export const CLIENT_BATCH_BYTES = MAX_MESSAGE_BYTES - 1024;

/**
 * Splits a member's client list into batches that each fit in one ordinary cluster message. The
 * list can hold tens of thousands of clients; sending it as one message would force every server
 * to accept huge frames from links that have not yet proven the cluster secret.
 * Always returns at least one batch (possibly empty): the last one tells the primary the list is whole.
 */
export function clientBatches(entries: readonly DirectoryEntry[], budget = CLIENT_BATCH_BYTES): DirectoryEntry[][] {
  const batches: DirectoryEntry[][] = [];
  let batch: DirectoryEntry[] = [];
  let size = 0;
  for (const entry of entries) {
    const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (batch.length > 0 && size + bytes > budget) {
      batches.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(entry);
    size += bytes;
  }
  batches.push(batch);
  return batches;
}

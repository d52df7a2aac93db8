import type { DeviceRecord } from '../store/deviceStore.js';
import type { DirectoryEntry } from './directory.js';

/**
 * Whether a device arriving as `entry` would change its record in anything but `lastSeen`. A client
 * re-reported unchanged (every client of a member when its link to a new acting primary forms, after
 * a failover) is not rewritten: `lastSeen` of an online device is the last time its record changed,
 * and its departure stamps it (see deviceRegistry.ts).
 */
export function recordUnchanged(known: DeviceRecord, entry: DirectoryEntry, pending: boolean): boolean {
  return (
    known.name === entry.name &&
    known.group === entry.group &&
    known.key === entry.key &&
    known.platform === entry.platform &&
    known.lastAddress === entry.address &&
    known.server === entry.server &&
    known.pending === pending
  );
}

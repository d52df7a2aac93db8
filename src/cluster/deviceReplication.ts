import { openDevices, sealDevices, type PrimaryToMember } from '../protocol/clusterMessages.js';
import type { DeviceChanges } from '../server/deviceRegistry.js';
import type { DeviceRecord } from '../store/deviceStore.js';
import type { Link } from '../net/link.js';
import type { ClusterHost } from '../server/role.js';

/** Records per message of a whole copy: 60,000 devices go in 12 messages of ~1.5 MB. */
const BATCH = 5000;

interface Follower {
  link: Link;
  salt: string;
  sent: number;
}

/**
 * The acting primary's side: the secondary and standbys get every known device when they link (or
 * become the secondary), then each batch the registry writes (every DEVICE_FLUSH_MS, only what
 * changed), so that one that takes over knows the fleet. Plain members get none: they never answer
 * controls. Why not the configuration snapshot: it goes whole to every member on every change, and
 * last-seen times change all the time.
 */
export class DeviceReplication {
  private readonly followers = new Map<string, Follower>();
  private readonly onFlushed = (changes: DeviceChanges) => this.sendChanges(changes);

  constructor(
    private readonly host: ClusterHost,
    private readonly secret: string,
  ) {}

  start(): void {
    this.host.devices.on('flushed', this.onFlushed);
  }

  stop(): void {
    this.host.devices.off('flushed', this.onFlushed);
    this.followers.clear();
  }

  /** A member linked, or its flags changed: one that may act gets a whole copy, once per link. */
  member(address: string, link: Link, salt: string, mayAct: boolean): void {
    const current = this.followers.get(address);
    if (!mayAct) {
      this.followers.delete(address);
      return;
    }
    if (current?.link === link) return;
    const follower = { link, salt, sent: 0 };
    this.followers.set(address, follower);
    this.host.devices.flush();
    const all: DeviceRecord[] = this.host.store.devices.all();
    for (let i = 0; i === 0 || i < all.length; i += BATCH)
      this.send(follower, { records: all.slice(i, i + BATCH), removed: [] }, i === 0);
  }

  left(address: string, link: Link): void {
    if (this.followers.get(address)?.link === link) this.followers.delete(address);
  }

  private sendChanges(changes: DeviceChanges): void {
    for (const follower of this.followers.values()) this.send(follower, changes, false);
  }

  private send(follower: Follower, changes: DeviceChanges, reset: boolean): void {
    follower.sent++;
    const message: PrimaryToMember = {
      type: 'devices',
      sealed: sealDevices(this.secret, follower.salt, { seq: follower.sent, reset, ...changes }),
    };
    follower.link.send(message);
  }
}

/**
 * The member's side: opens a batch and writes it to its own store. Returns the batch's count, which
 * must grow on the link (a replayed batch is refused); throws if it does not open or is stale.
 */
export function receiveDevices(
  host: Pick<ClusterHost, 'store'>,
  secret: string,
  salt: string,
  lastSeq: number,
  sealed: string,
): number {
  const batch = openDevices(secret, salt, sealed);
  if (batch.seq <= lastSeq) throw new Error(`device batch ${batch.seq} replayed (last ${lastSeq})`);
  if (batch.reset) host.store.devices.replaceAll(batch.records);
  else host.store.devices.putMany(batch.records, batch.removed);
  return batch.seq;
}

import { EventEmitter } from 'node:events';
import type { DeviceRecord } from '../store/deviceStore.js';
import type { ConfigStore } from '../store/configStore.js';
import type { ConfigCache } from './configCache.js';
import type { Directory, DirectoryEntry, DirectoryGate } from './directory.js';
import type { Logger } from './logger.js';
import { deviceState, type DeviceState } from './deviceState.js';

/** How often arrivals and departures seen since the last write go to SQLite, in one transaction. */
export const DEVICE_FLUSH_MS = 2000;
/**
 * New identities held pending at most: anyone with a key can make identities, so the table of
 * devices waiting for an admin is bounded. Past it, a new identity is still held (hidden) while it
 * stays connected, but not recorded.
 */
export const MAX_PENDING_DEVICES = 10_000;
const PENDING_FULL_LOG_MS = 60_000;

/** A device as the list shows it: its record, an admin's decisions, and whether it is connected now. */
export interface DeviceView extends DeviceRecord {
  /** The name the client reports, when an admin named it otherwise. */
  reportedName?: string;
  state: 'online' | 'offline' | 'pending' | 'revoked';
  revoked: boolean;
  approved: boolean;
}

/** The devices a batch of writes changed: the acting primary sends them on to the secondary. */
export interface DeviceChanges {
  records: DeviceRecord[];
  removed: string[];
}

interface RegistryHost {
  readonly store: ConfigStore;
  readonly config: ConfigCache;
  readonly directory: Directory;
  readonly logger: Logger;
  /** Read at each decision: set once the server starts. */
  readonly behaviour: { acting(): { acting: boolean } };
}

/**
 * Known devices on this server. On the acting primary it records every identity its directory
 * admits (first and last seen, where), writing arrivals and departures in one transaction every
 * DEVICE_FLUSH_MS rather than one write per event; on every server it decides, as a client arrives,
 * whether it is held pending (hidden) and under which name (the directory's gate). A member does
 * not record (the acting primary sees its clients), but decides the same from its copies, so that
 * a secondary that takes over already holds its pending clients hidden.
 */
export class DeviceRegistry extends EventEmitter<{ flushed: [changes: DeviceChanges] }> implements DirectoryGate {
  /** Records changed since the last write; read before SQLite, so a lookup never misses one. */
  private readonly dirty = new Map<string, DeviceRecord>();
  private readonly removed = new Set<string>();
  /** Directory entries shown under an admin's name, so that dropping the name restores the reported one. */
  private readonly renamed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private wasActing = false;
  private pendingFullLoggedAt = 0;
  private writeFailedLogged = false;
  private stopped = false;

  constructor(private readonly host: RegistryHost) {
    super();
    host.directory.gate = this;
    const left = (entry: DirectoryEntry) => this.left(entry);
    host.directory.on('down', left);
    host.directory.on('hiddenDown', left);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), DEVICE_FLUSH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
    this.stopped = true;
  }

  /** Nothing is recorded once stopped: the store may be closed while the last sockets close. */
  private get recording(): boolean {
    return !this.stopped && this.host.behaviour.acting().acting;
  }

  /** A device's record: the one waiting to be written, else the stored one. */
  get(id: string): DeviceRecord | undefined {
    if (this.removed.has(id)) return undefined;
    return this.dirty.get(id) ?? this.host.store.devices.get(id);
  }

  stateOf(id: string): DeviceState | undefined {
    const known = this.get(id);
    const rule = this.host.config.deviceRules.get(id);
    if (!known && !rule) return undefined;
    return deviceState(known, rule, this.host.config.settings['device-approval']);
  }

  arrive(entry: DirectoryEntry): { entry: DirectoryEntry; hidden: boolean } {
    const known = this.get(entry.id);
    const rule = this.host.config.deviceRules.get(entry.id);
    const state = deviceState(known, rule, this.host.config.settings['device-approval']);
    if (this.recording) this.record(entry, known, state === 'pending');
    const held = rule?.name ? { ...entry, name: rule.name } : entry;
    if (rule?.name) this.renamed.add(entry.id);
    else this.renamed.delete(entry.id);
    return { entry: held, hidden: state !== 'active' };
  }

  private record(entry: DirectoryEntry, known: DeviceRecord | undefined, pending: boolean): void {
    if (!known && pending && this.host.store.devices.pendingCount() + this.dirtyPending() >= MAX_PENDING_DEVICES) {
      const now = Date.now();
      if (now - this.pendingFullLoggedAt > PENDING_FULL_LOG_MS) {
        this.pendingFullLoggedAt = now;
        this.host.logger.warn(
          { max: MAX_PENDING_DEVICES, client: entry.id },
          'too many devices wait for approval: new ones are held but not recorded; approve or remove some',
        );
      }
      return;
    }
    const now = new Date().toISOString();
    this.removed.delete(entry.id);
    this.dirty.set(entry.id, {
      id: entry.id,
      name: entry.name,
      group: entry.group,
      key: entry.key,
      platform: entry.platform,
      firstSeen: known?.firstSeen ?? now,
      lastSeen: now,
      lastAddress: entry.address,
      server: entry.server,
      pending,
    });
  }

  private dirtyPending(): number {
    let n = 0;
    for (const d of this.dirty.values()) if (d.pending) n++;
    return n;
  }

  private left(entry: DirectoryEntry): void {
    if (!this.recording) return;
    const known = this.get(entry.id);
    if (known) this.dirty.set(entry.id, { ...known, lastSeen: new Date().toISOString() });
  }

  private tick(): void {
    const acting = this.recording;
    // Just became the acting primary (a failover): the clients already here were not recorded by us.
    if (acting && !this.wasActing)
      for (const entry of this.host.directory.all()) {
        const known = this.get(entry.id);
        // The directory holds an admin's name; the record keeps the one the client reports.
        const reported = known && this.renamed.has(entry.id) ? { ...entry, name: known.name } : entry;
        this.record(reported, known, known?.pending ?? this.host.directory.isHidden(entry.id));
      }
    this.wasActing = acting;
    this.flush();
  }

  /** Writes what changed since the last write, in one transaction; on failure it stays for the next try. */
  flush(): void {
    if (this.dirty.size === 0 && this.removed.size === 0) return;
    const changes: DeviceChanges = { records: [...this.dirty.values()], removed: [...this.removed] };
    try {
      this.host.store.devices.putMany(changes.records, changes.removed);
    } catch (err) {
      if (!this.writeFailedLogged)
        this.host.logger.error({ err: (err as Error).message }, 'known devices could not be written; retrying');
      this.writeFailedLogged = true;
      return;
    }
    if (this.writeFailedLogged) this.host.logger.warn('known devices written again');
    this.writeFailedLogged = false;
    this.dirty.clear();
    this.removed.clear();
    this.emit('flushed', changes);
  }

  /** Forgets a device (an admin's `remove`): its record goes at the next write. */
  forget(id: string): void {
    this.dirty.delete(id);
    this.removed.add(id);
  }

  /**
   * After a configuration change: devices approved since are shown (and no longer pending), and
   * names an admin set or dropped apply to the clients connected now.
   */
  configChanged(): void {
    const { directory, config } = this.host;
    const approval = config.settings['device-approval'];
    for (const entry of directory.all()) {
      const rule = config.deviceRules.get(entry.id);
      const hidden = directory.isHidden(entry.id);
      const known = this.get(entry.id);
      const state = deviceState(known, rule, approval);
      if (hidden && state === 'active') {
        if (known?.pending && this.recording) this.dirty.set(entry.id, { ...known, pending: false });
        directory.reveal(this.named(entry, rule?.name ?? null, known));
      } else if (!hidden && (rule?.name ? rule.name !== entry.name : this.renamed.has(entry.id))) {
        directory.reveal(this.named(entry, rule?.name ?? null, known));
      }
    }
  }

  private named(entry: DirectoryEntry, name: string | null, known: DeviceRecord | undefined): DirectoryEntry {
    if (name) {
      this.renamed.add(entry.id);
      return { ...entry, name };
    }
    if (!this.renamed.delete(entry.id)) return entry;
    return { ...entry, name: known?.name ?? entry.name };
  }

  /** Every known device, as the list shows it (60,000 in one read). */
  list(): DeviceView[] {
    this.flush();
    const { directory, config } = this.host;
    const approval = config.settings['device-approval'];
    return this.host.store.devices.all().map((d) => {
      const rule = config.deviceRules.get(d.id);
      const state = deviceState(d, rule, approval);
      const online = directory.get(d.id) !== undefined;
      return {
        ...d,
        ...(rule?.name ? { name: rule.name, reportedName: d.name } : {}),
        state: state === 'active' ? (online ? 'online' : 'offline') : state,
        revoked: rule?.revoked ?? false,
        approved: rule?.approved ?? false,
      };
    });
  }
}

import { EventEmitter } from 'node:events';
import type { DeviceRecord } from '../store/deviceStore.js';
import type { ConfigStore } from '../store/configStore.js';
import type { ConfigCache } from './configCache.js';
import type { Directory, DirectoryEntry, DirectoryGate } from './directory.js';
import type { Logger } from './logger.js';
import { deviceState, type DeviceState } from './deviceState.js';
import { recordUnchanged } from './deviceRecordChange.js';

/** How often arrivals and departures seen since the last write go to SQLite. */
export const DEVICE_FLUSH_MS = 2000;
/**
 * Records (or removals) per transaction when there are more to write: a take-over may change tens of
 * thousands at once, and one transaction of them all held the event loop for seconds, long enough
 * for members' cluster links to be judged dead. Between two slices the event loop answers.
 */
export const FLUSH_SLICE = 2000;
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

/** Changes taken from `dirty` and being written slice by slice: read as `dirty` is until written. */
interface Writing {
  records: Map<string, DeviceRecord>;
  removed: Set<string>;
  /** How many of `records` are pending (the cap counts them until they are in SQLite). */
  pending: number;
}

/**
 * Known devices on this server. On the acting primary it records every identity its directory
 * admits (first and last seen, where), writing arrivals and departures every DEVICE_FLUSH_MS rather
 * than one write per event, in slices of FLUSH_SLICE; on every server it decides, as a client
 * arrives, whether it is held pending (hidden) and under which name (the directory's gate). A member
 * does not record (the acting primary sees its clients), but decides the same from its copies, so
 * that a secondary that takes over already holds its pending clients hidden.
 *
 * `lastSeen`: the time a device left, or arrived with a record that changed (another address,
 * server, name, key...). A client that arrives unchanged is not rewritten, so that a take-over (every
 * member re-reports all its clients) costs one batch read and no write per client; while a device
 * is online the list says so, and its departure stamps `lastSeen`.
 */
export class DeviceRegistry extends EventEmitter<{ flushed: [changes: DeviceChanges] }> implements DirectoryGate {
  /** Records changed since the last write; read before SQLite, so a lookup never misses one. */
  private readonly dirty = new Map<string, DeviceRecord>();
  /** How many of `dirty` are pending: counted as they change, not by a walk per arrival. */
  private dirtyPending = 0;
  private readonly removed = new Set<string>();
  private writing: Writing | undefined;
  private sliceScheduled = false;
  /** SQLite's count of pending devices, read once between two writes. */
  private storedPending: number | undefined;
  /** Directory entries shown under an admin's name, so that dropping the name restores the reported one. */
  private readonly renamed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private wasActing = false;
  /** Devices that left, still to stamp (stampDepartures): id → when it left. */
  private readonly leaving = new Map<string, string>();
  /** The clients a take-over found here, still to record (recordDirectory), by id. */
  private readonly toRecord = new Map<string, DirectoryEntry>();
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
    const held = this.inMemory(id);
    return held === undefined ? this.host.store.devices.get(id) : (held ?? undefined);
  }

  /** A record not yet in SQLite (or its removal, as null); undefined: SQLite has the answer. */
  private inMemory(id: string): DeviceRecord | null | undefined {
    if (this.removed.has(id)) return null;
    const dirty = this.dirty.get(id);
    if (dirty) return dirty;
    const writing = this.writing;
    if (writing?.removed.has(id)) return null;
    return writing?.records.get(id);
  }

  /** The records of these ids, as `get` gives each, with one SQLite read for all that are not in memory. */
  private getMany(ids: readonly string[]): Map<string, DeviceRecord> {
    const found = new Map<string, DeviceRecord>();
    const toRead: string[] = [];
    for (const id of ids) {
      const held = this.inMemory(id);
      if (held) found.set(id, held);
      else if (held === undefined) toRead.push(id);
    }
    for (const [id, record] of this.host.store.devices.getMany(toRead)) found.set(id, record);
    return found;
  }

  stateOf(id: string): DeviceState | undefined {
    const known = this.get(id);
    const rule = this.host.config.deviceRules.get(id);
    if (!known && !rule) return undefined;
    return deviceState(known, rule, this.host.config.settings['device-approval']);
  }

  arrive(entry: DirectoryEntry): { entry: DirectoryEntry; hidden: boolean } {
    return this.decide(entry, this.get(entry.id));
  }

  /** As `arrive` for each, in order, with one SQLite read for the batch (a member's list of clients). */
  arriveMany(entries: readonly DirectoryEntry[]): { entry: DirectoryEntry; hidden: boolean }[] {
    const known = this.getMany(entries.map((e) => e.id));
    // A record this batch wrote (an id twice in it) is in `dirty`, newer than what was read.
    return entries.map((entry) => this.decide(entry, this.dirty.get(entry.id) ?? known.get(entry.id)));
  }

  private decide(entry: DirectoryEntry, known: DeviceRecord | undefined): { entry: DirectoryEntry; hidden: boolean } {
    const rule = this.host.config.deviceRules.get(entry.id);
    const state = deviceState(known, rule, this.host.config.settings['device-approval']);
    if (this.recording) this.record(entry, known, state === 'pending');
    const held = rule?.name ? { ...entry, name: rule.name } : entry;
    if (rule?.name) this.renamed.add(entry.id);
    else this.renamed.delete(entry.id);
    return { entry: held, hidden: state !== 'active' };
  }

  private record(entry: DirectoryEntry, known: DeviceRecord | undefined, pending: boolean): void {
    // Nothing to write but the time: lastSeen moves when it leaves (see the class comment).
    if (known && recordUnchanged(known, entry, pending)) return;
    if (!known && pending && this.pendingCount() >= MAX_PENDING_DEVICES) {
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
    this.setDirty({
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

  /**
   * Pending devices, counted as the cap wants them: stored, waiting to be written, being written
   * (one already stored and changed since counts twice: the cap errs on the safe side).
   */
  private pendingCount(): number {
    this.storedPending ??= this.host.store.devices.pendingCount();
    return this.storedPending + this.dirtyPending + (this.writing?.pending ?? 0);
  }

  private setDirty(record: DeviceRecord): void {
    this.deleteDirty(record.id);
    this.dirty.set(record.id, record);
    if (record.pending) this.dirtyPending++;
  }

  private deleteDirty(id: string): void {
    if (this.dirty.get(id)?.pending) this.dirtyPending--;
    this.dirty.delete(id);
  }

  /**
   * A device left: its record's `lastSeen` is stamped a turn of the event loop later, FLUSH_SLICE
   * at a time with one read each. A member's link lost drops all its clients at once, and a point
   * read each held an acting primary's loop for seconds at 12,000 (a CPU profile of a fleet
   * failover), long enough for its other members' links to give up on it in turn.
   */
  private left(entry: DirectoryEntry): void {
    if (!this.recording) return;
    if (this.leaving.size === 0) setImmediate(() => this.stampDepartures(FLUSH_SLICE));
    this.leaving.set(entry.id, new Date().toISOString());
  }

  private stampDepartures(limit: number): void {
    const part = [...take(this.leaving.entries(), limit)];
    for (const [id] of part) this.leaving.delete(id);
    // A device back meanwhile is online: its arrival decided its record.
    const gone = part.filter(([id]) => !this.host.directory.get(id));
    const known = this.recording ? this.getMany(gone.map(([id]) => id)) : new Map<string, DeviceRecord>();
    for (const [id, at] of gone) {
      const record = known.get(id);
      if (record) this.setDirty({ ...record, lastSeen: at });
    }
    if (this.leaving.size > 0) setImmediate(() => this.stampDepartures(limit));
  }

  private tick(): void {
    // Replicated batches may have changed the table since it was counted.
    this.storedPending = undefined;
    const acting = this.recording;
    if (acting) this.becameActing();
    this.wasActing = acting;
    this.flushInSlices();
  }

  /**
   * This server has just become the acting primary (a failover): the clients already here were not
   * recorded by us, and are, a slice a turn. The role says so as it starts acting, before anything
   * else arrives: every arrival after that is recorded by the gate, and noticed only at the next
   * tick, a takeover's 49,000 clients listed from the secondary's copy were read a second time.
   */
  becameActing(): void {
    if (this.wasActing || !this.recording) return;
    this.wasActing = true;
    this.recordDirectory();
  }

  /**
   * Records every client the directory holds, FLUSH_SLICE a turn of the event loop, reading each
   * slice's records in one query; unchanged ones are not rewritten. In one go this held a taking-over
   * secondary's loop for seconds (a CPU profile of a fleet failover: docs/benchmarks.md), while its
   * members, re-linking, waited for its pongs. An entry gone or replaced meanwhile is skipped (its
   * arrival or departure was recorded as it happened), and so is a device forgotten meanwhile.
   */
  private recordDirectory(): void {
    for (const entry of this.host.directory.all()) this.toRecord.set(entry.id, entry);
    const slice = () => {
      if (!this.recording) return this.toRecord.clear();
      const part = [...take(this.toRecord.values(), FLUSH_SLICE)];
      for (const entry of part) this.toRecord.delete(entry.id);
      const here = part.filter((e) => this.host.directory.get(e.id) === e);
      const known = this.getMany(here.map((e) => e.id));
      for (const entry of here) {
        const record = known.get(entry.id);
        // The directory holds an admin's name; the record keeps the one the client reports.
        const reported = record && this.renamed.has(entry.id) ? { ...entry, name: record.name } : entry;
        this.record(reported, record, record?.pending ?? this.host.directory.isHidden(entry.id));
      }
      if (this.toRecord.size > 0) setImmediate(slice);
    };
    slice();
  }

  /**
   * Writes everything not yet written, slices still to write first, in one transaction; on failure
   * it all stays for the next try. For those that need the table whole now (a copy for a follower,
   * the list, a stop).
   */
  flush(): void {
    if (this.leaving.size > 0) this.stampDepartures(Infinity);
    const writing = this.writing;
    if (this.dirty.size === 0 && this.removed.size === 0 && !writing) return;
    // Removals go before records in a batch (putMany, and the follower's too): a device forgotten
    // and seen again since is removed, then recorded anew.
    const records = new Map(writing?.records);
    const removed = new Set(writing?.removed);
    for (const id of this.removed) {
      records.delete(id);
      removed.add(id);
    }
    for (const [id, record] of this.dirty) records.set(id, record);
    const changes: DeviceChanges = { records: [...records.values()], removed: [...removed] };
    if (!this.write(changes)) return;
    this.writing = undefined;
    this.dirty.clear();
    this.dirtyPending = 0;
    this.removed.clear();
    this.emit('flushed', changes);
  }

  /** Writes what changed: at once when it is little, else in slices with the event loop free between. */
  private flushInSlices(): void {
    if (this.writing) {
      // A slice failed (and waits for this tick), or slices are still being written.
      if (!this.sliceScheduled) this.writeSlice();
      return;
    }
    if (this.dirty.size + this.removed.size <= FLUSH_SLICE) {
      this.flush();
      return;
    }
    this.writing = { records: new Map(this.dirty), removed: new Set(this.removed), pending: this.dirtyPending };
    this.dirty.clear();
    this.dirtyPending = 0;
    this.removed.clear();
    this.writeSlice();
  }

  private writeSlice(): void {
    this.sliceScheduled = false;
    const writing = this.writing;
    if (!writing || this.stopped) return;
    const removed = [...take(writing.removed.keys(), FLUSH_SLICE)];
    const records = [...take(writing.records.values(), FLUSH_SLICE - removed.length)];
    const changes: DeviceChanges = { records, removed };
    // On failure the slice stays; the next tick tries again.
    if (!this.write(changes)) return;
    for (const id of removed) writing.removed.delete(id);
    for (const record of records) {
      writing.records.delete(record.id);
      if (record.pending) writing.pending--;
    }
    if (writing.records.size === 0 && writing.removed.size === 0) this.writing = undefined;
    else {
      this.sliceScheduled = true;
      setImmediate(() => this.writeSlice());
    }
    this.emit('flushed', changes);
  }

  private write(changes: DeviceChanges): boolean {
    try {
      this.host.store.devices.putMany(changes.records, changes.removed);
    } catch (err) {
      if (!this.writeFailedLogged)
        this.host.logger.error({ err: (err as Error).message }, 'known devices could not be written; retrying');
      this.writeFailedLogged = true;
      return false;
    }
    this.storedPending = undefined;
    if (this.writeFailedLogged) this.host.logger.warn('known devices written again');
    this.writeFailedLogged = false;
    return true;
  }

  /** Forgets a device (an admin's `remove`): its record goes at the next write. */
  forget(id: string): void {
    // Forgotten while the take-over's walk had yet to come to it: it stays forgotten until it arrives again.
    this.toRecord.delete(id);
    this.deleteDirty(id);
    this.removed.add(id);
  }

  /**
   * After a configuration change: devices approved since are shown (and no longer pending), and
   * names an admin set or dropped apply to the clients connected now.
   */
  configChanged(): void {
    const { directory, config } = this.host;
    const approval = config.settings['device-approval'];
    const entries = [...directory.all()];
    const records = this.getMany(entries.map((e) => e.id));
    for (const entry of entries) {
      const rule = config.deviceRules.get(entry.id);
      const hidden = directory.isHidden(entry.id);
      const known = records.get(entry.id);
      const state = deviceState(known, rule, approval);
      if (hidden && state === 'active') {
        if (known?.pending && this.recording) this.setDirty({ ...known, pending: false });
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

/** At most `n` of an iterator's values. */
function* take<T>(values: Iterator<T>, n: number): Generator<T> {
  for (let i = 0; i < n; i++) {
    const next = values.next();
    if (next.done) return;
    yield next.value;
  }
}

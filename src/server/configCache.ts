import { EventEmitter } from 'node:events';
import type { ConfigStore, ServerRow } from '../store/configStore.js';
import type { Settings } from '../store/settings.js';
import type { DeviceRule } from '../store/deviceRules.js';
import { acceptedSecrets, type AcceptedSecret } from './keySecrets.js';

/**
 * The running server's view of its store. Another process (`switchboard config --data`, or
 * replication) may write the database at any time; SQLite's data_version tells us cheaply, and we
 * reload. Emits `changed` with the names of keys that disappeared, so their clients can be closed.
 */
export class ConfigCache extends EventEmitter<{ changed: [removedKeys: string[]] }> {
  /** The secrets that prove a key now: each key's current one, and an old one in its rotation's grace. */
  keys: AcceptedSecret[] = [];
  /** Old secrets of rotations that ended: recognised only to tell their holder the key was rotated. */
  retiredKeys: AcceptedSecret[] = [];
  /** Admins' decisions about devices, by id: the hello's revoke check is one lookup here. */
  deviceRules = new Map<string, DeviceRule>();
  /** When a rotation's grace ends with no configuration change: the secrets are read again then. */
  private secretsChangeAt = Infinity;
  /**
   * The server table, for placement (read on every arrival at the primary) and the server list:
   * both see a weight or enabled change at the same moment, when this cache reloads.
   */
  servers: ServerRow[] = [];
  settings!: Settings;
  operatorCount = 0;
  version = 0;
  private seen = -1;
  private seenWrites = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly store: ConfigStore) {
    super();
    this.reload();
  }

  watch(intervalMs = 250): void {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  /**
   * Re-reads the store if anyone committed since the last look. Cheap when nothing did (one
   * prepared PRAGMA, no table read), so a hot path can call it to see another process's write at
   * once rather than at the next poll.
   */
  check(): void {
    if (Date.now() >= this.secretsChangeAt) return this.reload();
    const dv = this.store.dataVersion();
    const writes = this.store.configWrites;
    if (dv === this.seen && writes === this.seenWrites) return;
    this.seen = dv;
    this.seenWrites = writes;
    if (this.store.version() === this.version) return;
    this.reload();
  }

  private reload(): void {
    const before = new Set(this.keys.map((k) => k.name));
    const secrets = acceptedSecrets(this.store.keys(), Date.now());
    this.keys = secrets.accepted;
    this.retiredKeys = secrets.retired;
    this.secretsChangeAt = secrets.nextChange;
    this.deviceRules = new Map(this.store.deviceRules.all().map((r) => [r.id, r]));
    this.servers = this.store.servers();
    this.settings = this.store.settings();
    this.operatorCount = this.store.operatorCount();
    this.version = this.store.version();
    this.seen = this.store.dataVersion();
    this.seenWrites = this.store.configWrites;
    for (const k of this.keys) before.delete(k.name);
    this.emit('changed', [...before]);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

import { EventEmitter } from 'node:events';
import type { ConfigStore, Key, ServerRow } from '../store/configStore.js';
import type { Settings } from '../store/settings.js';

/**
 * The running server's view of its store. Another process (`switchboard config --data`, or
 * replication) may write the database at any time; SQLite's data_version tells us cheaply, and we
 * reload. Emits `changed` with the names of keys that disappeared, so their clients can be closed.
 */
export class ConfigCache extends EventEmitter<{ changed: [removedKeys: string[]] }> {
  keys: Key[] = [];
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
    this.keys = this.store.keys();
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

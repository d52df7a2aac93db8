import type Database from 'better-sqlite3';

/**
 * A device: one client identity the cluster admitted, as last seen. The acting primary writes these
 * (batched: see deviceRegistry.ts) and copies them to the secondary; they are not configuration.
 */
export interface DeviceRecord {
  id: string;
  /** The name the client reported (an admin's name, when set, is a device rule). */
  name: string;
  group: string;
  /** The name of the key it proved. */
  key: string;
  platform: string;
  firstSeen: string;
  lastSeen: string;
  lastAddress: string;
  /** The server it was (or is) on. */
  server: string;
  /** Admitted while `device-approval` was on and not yet approved. */
  pending: boolean;
}

type Row = Record<string, string | number>;

function fromRow(row: Row): DeviceRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    group: row.grp as string,
    key: row.key_name as string,
    platform: row.platform as string,
    firstSeen: row.first_seen as string,
    lastSeen: row.last_seen as string,
    lastAddress: row.last_address as string,
    server: row.server as string,
    pending: row.pending === 1,
  };
}

function toRow(d: DeviceRecord): Row {
  return {
    id: d.id,
    name: d.name,
    grp: d.group,
    key_name: d.key,
    platform: d.platform,
    first_seen: d.firstSeen,
    last_seen: d.lastSeen,
    last_address: d.lastAddress,
    server: d.server,
    pending: d.pending ? 1 : 0,
  };
}

/** The `devices` table: prepared statements, many rows per transaction. */
export class DeviceStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      get: db.prepare('SELECT * FROM devices WHERE id = ?'),
      // One read for a batch of ids (a member's list of clients): one statement, not one per id.
      getMany: db.prepare('SELECT * FROM devices WHERE id IN (SELECT value FROM json_each(?))'),
      all: db.prepare('SELECT * FROM devices ORDER BY name, id'),
      count: db.prepare('SELECT COUNT(*) FROM devices').pluck(),
      pendingCount: db.prepare('SELECT COUNT(*) FROM devices WHERE pending = 1').pluck(),
      // First seen is the first time: a later record of the same device never moves it.
      upsert: db.prepare(
        `INSERT INTO devices (id, name, grp, key_name, platform, first_seen, last_seen, last_address, server, pending)
         VALUES (@id, @name, @grp, @key_name, @platform, @first_seen, @last_seen, @last_address, @server, @pending)
         ON CONFLICT(id) DO UPDATE SET name = @name, grp = @grp, key_name = @key_name, platform = @platform,
           last_seen = @last_seen, last_address = @last_address, server = @server, pending = @pending`,
      ),
      remove: db.prepare('DELETE FROM devices WHERE id = ?'),
      clear: db.prepare('DELETE FROM devices'),
    };
  }

  get(id: string): DeviceRecord | undefined {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** The records of these ids that exist, by id: as `get` for each, in one read. */
  getMany(ids: readonly string[]): Map<string, DeviceRecord> {
    const found = new Map<string, DeviceRecord>();
    if (ids.length === 0) return found;
    for (const row of this.stmts.getMany.all(JSON.stringify(ids)) as Row[]) found.set(row.id as string, fromRow(row));
    return found;
  }

  all(): DeviceRecord[] {
    return (this.stmts.all.all() as Row[]).map(fromRow);
  }

  count(): number {
    return this.stmts.count.get() as number;
  }

  pendingCount(): number {
    return this.stmts.pendingCount.get() as number;
  }

  /** Writes many records in one transaction (a batch of last-seen updates, a replicated delta). */
  putMany(records: Iterable<DeviceRecord>, removed: Iterable<string> = []): void {
    this.db.transaction(() => {
      for (const id of removed) this.stmts.remove.run(id);
      for (const d of records) this.stmts.upsert.run(toRow(d));
    })();
  }

  remove(id: string): boolean {
    return this.stmts.remove.run(id).changes > 0;
  }

  /** The whole table replaced by the acting primary's (the secondary's copy, on each link). */
  replaceAll(records: Iterable<DeviceRecord>): void {
    this.db.transaction(() => {
      this.stmts.clear.run();
      for (const d of records) this.stmts.upsert.run(toRow(d));
    })();
  }
}

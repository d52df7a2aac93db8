import type Database from 'better-sqlite3';

/**
 * An admin's decision about one device: configuration, replicated to every server with the keys,
 * so that every server refuses a revoked device at its hello, and the acting primary (whichever it
 * is after a failover) knows which devices were approved and what an admin named them.
 */
export interface DeviceRule {
  id: string;
  revoked: boolean;
  approved: boolean;
  /** An admin's name for the device: it wins over the name the client reports. */
  name: string | null;
}

type Row = { id: string; revoked: number; approved: number; name: string | null };

/** The `device_rules` table. Writes go through ConfigStore.changeConfig (they bump the version). */
export class DeviceRules {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      all: db.prepare('SELECT id, revoked, approved, name FROM device_rules ORDER BY id'),
      get: db.prepare('SELECT id, revoked, approved, name FROM device_rules WHERE id = ?'),
      put: db.prepare(
        `INSERT INTO device_rules (id, revoked, approved, name) VALUES (@id, @revoked, @approved, @name)
         ON CONFLICT(id) DO UPDATE SET revoked = @revoked, approved = @approved, name = @name`,
      ),
      remove: db.prepare('DELETE FROM device_rules WHERE id = ?'),
      clear: db.prepare('DELETE FROM device_rules'),
    };
  }

  private static fromRow(row: Row): DeviceRule {
    return { id: row.id, revoked: row.revoked === 1, approved: row.approved === 1, name: row.name };
  }

  all(): DeviceRule[] {
    return (this.stmts.all.all() as Row[]).map(DeviceRules.fromRow);
  }

  get(id: string): DeviceRule | undefined {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? DeviceRules.fromRow(row) : undefined;
  }

  /** A rule that decides nothing any more is deleted rather than kept. */
  put(rule: DeviceRule): void {
    if (!rule.revoked && !rule.approved && rule.name === null) {
      this.stmts.remove.run(rule.id);
      return;
    }
    this.stmts.put.run({
      id: rule.id,
      revoked: rule.revoked ? 1 : 0,
      approved: rule.approved ? 1 : 0,
      name: rule.name,
    });
  }

  remove(id: string): boolean {
    return this.stmts.remove.run(id).changes > 0;
  }

  /** Inside the caller's transaction (applySnapshot). */
  replace(rules: readonly DeviceRule[]): void {
    this.stmts.clear.run();
    for (const rule of rules) this.put(rule);
  }
}

import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { DeviceRules, type DeviceRule } from './deviceRules.js';
import { DeviceStore } from './deviceStore.js';
import { migrations } from './schema.js';
import { defaultSettings, isSettingName, parseSetting, type SettingName, type Settings } from './settings.js';
import { BACKLOG_RETRY_MS, WriteBacklog, type BacklogReport, type BacklogStats } from './writeBacklog.js';

export interface Key {
  name: string;
  /** The secret new clients and controls use (after a rotation: the successor). */
  value: string;
  createdAt: string;
  /** After `key rotate`: the secret it replaced, accepted (and answered with the new one) until previousUntil. */
  previous?: string;
  /** ISO time the previous secret stops being accepted (`key retire` sets it to now). */
  previousUntil?: string;
}

export type OperatorRole = 'admin' | 'operator';

export interface Operator {
  name: string;
  role: OperatorRole;
  /** Keys whose clients this operator may see; an admin sees every key. */
  keys: string[];
  hasTotp: boolean;
  createdAt: string;
}

export interface OperatorSecrets extends Operator {
  passwordHash: string;
  totpSecret: string | null;
}

export interface ServerRow {
  address: string;
  weight: number;
  enabled: boolean;
  secondary: boolean;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

/** Everything that replicates from the acting primary to its members, at one version. */
export interface ConfigSnapshot {
  version: number;
  keys: Key[];
  operators: Omit<OperatorSecrets, 'hasTotp'>[];
  servers: ServerRow[];
  settings: Settings;
  /** API sessions logged out (a server of an older version sends none: its members keep theirs). */
  logouts?: Logout[];
  /** Admins' decisions about devices (revoked, approved, named); absent from older servers. */
  deviceRules?: DeviceRule[];
}

/** A logged-out API session: its token's SHA-256 (hex), and when the token would expire anyway (ms). */
export interface Logout {
  id: string;
  expiresAt: number;
}

/** Logouts kept at most; past it the ones closest to expiry go first (see addLogout). */
export const MAX_LOGOUTS = 20_000;

/** What a refused configuration change got wrong: a bad value, a name that is not there, or one that is. */
export type ConfigErrorKind = 'invalid' | 'missing' | 'exists';

/** A configuration change the store refuses; its kind, not its words, says which (the API's HTTP status). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly kind: ConfigErrorKind = 'invalid',
  ) {
    super(message);
  }
}

/** The store's file in a data directory. */
const STORE_FILE = 'switchboard.db';

/**
 * A configuration write the disk had no room for: nothing of it was saved (the transaction rolled
 * back), so the caller can say so and the admin can retry once there is space.
 */
function storeFull(): SwitchboardError {
  return new SwitchboardError(
    ErrorCodes.STORE_FULL,
    "the data directory's disk is full: the change was not saved; free some space and try again",
  );
}

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const ADDRESS = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/;

function checkName(kind: string, name: string): void {
  if (!NAME.test(name))
    throw new ConfigError(`${kind} name must be 1-64 letters, digits or . _ @ -: ${JSON.stringify(name)}`);
}

export function checkServerAddress(address: string): void {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  if (!ADDRESS.test(address) || port < 1 || port > 65535)
    throw new ConfigError(`server address must be HOST:PORT: ${JSON.stringify(address)}`);
}

/**
 * The server's SQLite store: configuration (replicated), server-local meta, and the audit log.
 * Every configuration write runs in a transaction that bumps `config_version`, so a running server
 * (or a member) can tell that something changed and what version it holds.
 */
export class ConfigStore {
  private readonly db: Database.Database;
  private readonly stmts;
  /**
   * Configuration writes made through this connection (SQLite's data_version counts only the other
   * connections'): with it, a cache can tell that nothing changed without reading a table.
   */
  configWrites = 0;
  /** The epoch as last read (see epoch()); null: read it again. */
  private epochCache: number | undefined | null = null;
  /** Audit records and meta values the store could not take yet (writeBacklog.ts has the rule). */
  private readonly backlog = new WriteBacklog();
  private retryTimer: NodeJS.Timeout | undefined;
  private reporter: ((report: BacklogReport) => void) | undefined;
  /** Known devices (not configuration: written in batches, never bumps the version). */
  readonly devices: DeviceStore;
  /** Admins' decisions about devices: configuration, changed through changeConfig. */
  readonly deviceRules: DeviceRules;

  /** Whether a data directory holds a store (`config --data` must not make one by mistake). */
  static exists(dataDir: string): boolean {
    return existsSync(join(dataDir, STORE_FILE));
  }

  static open(dataDir: string): ConfigStore {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, STORE_FILE);
    const db = new Database(file);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        chmodSync(f, 0o600);
      } catch {
        /* the WAL files appear on first write */
      }
    }
    return new ConfigStore(db);
  }

  static memory(): ConfigStore {
    return new ConfigStore(new Database(':memory:'));
  }

  private constructor(db: Database.Database) {
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    this.migrate();
    this.devices = new DeviceStore(db);
    this.deviceRules = new DeviceRules(db);
    this.stmts = {
      keys: db.prepare(
        'SELECT name, value, created_at AS createdAt, previous, previous_until AS previousUntil FROM keys ORDER BY name',
      ),
      addKey: db.prepare('INSERT INTO keys (name, value, created_at, previous, previous_until) VALUES (?, ?, ?, ?, ?)'),
      setKeySecrets: db.prepare('UPDATE keys SET value = ?, previous = ?, previous_until = ? WHERE name = ?'),
      removeKey: db.prepare('DELETE FROM keys WHERE name = ?'),
      operators: db.prepare('SELECT * FROM operators ORDER BY name'),
      operator: db.prepare('SELECT * FROM operators WHERE name = ?'),
      upsertOperator: db.prepare(
        `INSERT INTO operators (name, password_hash, role, keys, totp_secret, created_at) VALUES (@name, @passwordHash, @role, @keys, @totpSecret, @createdAt)
         ON CONFLICT(name) DO UPDATE SET password_hash = @passwordHash, role = @role, keys = @keys, totp_secret = @totpSecret`,
      ),
      removeOperator: db.prepare('DELETE FROM operators WHERE name = ?'),
      setTotp: db.prepare('UPDATE operators SET totp_secret = ? WHERE name = ?'),
      servers: db.prepare('SELECT address, weight, enabled, secondary FROM servers ORDER BY address'),
      server: db.prepare('SELECT address, weight, enabled, secondary FROM servers WHERE address = ?'),
      upsertServer: db.prepare(
        `INSERT INTO servers (address, weight, enabled, secondary) VALUES (@address, @weight, @enabled, @secondary)
         ON CONFLICT(address) DO UPDATE SET weight = @weight, enabled = @enabled, secondary = @secondary`,
      ),
      clearSecondary: db.prepare('UPDATE servers SET secondary = 0 WHERE address != ?'),
      removeServer: db.prepare('DELETE FROM servers WHERE address = ?'),
      settings: db.prepare('SELECT name, value FROM settings'),
      setSetting: db.prepare(
        'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      ),
      getMeta: db.prepare('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      ),
      bumpVersion: db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'config_version'"),
      audit: db.prepare('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)'),
      logouts: db.prepare('SELECT id, expires_at AS expiresAt FROM logouts ORDER BY expires_at'),
      loggedOut: db.prepare('SELECT 1 FROM logouts WHERE id = ?').pluck(),
      addLogout: db.prepare('INSERT OR REPLACE INTO logouts (id, expires_at) VALUES (?, ?)'),
      expireLogouts: db.prepare('DELETE FROM logouts WHERE expires_at <= ?'),
      trimLogouts: db.prepare(
        'DELETE FROM logouts WHERE id IN (SELECT id FROM logouts ORDER BY expires_at LIMIT max(0, (SELECT count(*) FROM logouts) - ?))',
      ),
      auditLog: db.prepare('SELECT id, at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?'),
      // Prepared once: db.pragma() would compile it again on every call, and the placement path asks.
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = current; i < migrations.length; i++) {
      this.db.transaction(() => {
        this.db.exec(migrations[i]!);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  /**
   * Runs `fn` in a transaction (a savepoint when nested). A full disk rolls it back whole and
   * throws SB_ERR_STORE_FULL, so a caller never mistakes it for a bug and nothing half-done stays.
   */
  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_FULL') throw storeFull();
      throw err;
    }
  }

  /** Runs a configuration change and bumps the version in the same transaction. */
  private change<T>(fn: () => T): T {
    const result = this.write(() => {
      const result = fn();
      this.stmts.bumpVersion.run();
      return result;
    });
    this.configWrites++;
    return result;
  }

  /** A change to a table another store keeps (device rules), as a configuration change: it bumps the version. */
  changeConfig<T>(fn: () => T): T {
    return this.change(fn);
  }

  /**
   * A configuration change and its audit record, in one transaction: an admin's change is never
   * saved without its record, nor recorded without being saved (on a full disk, neither is).
   */
  changeAudited<T>(actor: string, action: string, fn: () => T, detail: (result: T) => Record<string, unknown>): T {
    return this.write(() => {
      const result = fn();
      this.stmts.audit.run(new Date().toISOString(), actor, action, JSON.stringify(detail(result)));
      return result;
    });
  }

  close(): void {
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    // A last try, so a clean stop after the disk got room again loses nothing.
    if (!this.backlog.empty) this.retryBacklog();
    this.db.close();
  }

  // ---- writes that must not fail the traffic that makes them ------------------------------------
  /** Where the backlog's reports go (the server logs them): at most one per interval. */
  onBacklogReport(reporter: (report: BacklogReport) => void): void {
    this.reporter = reporter;
  }

  backlogStats(): BacklogStats {
    return this.backlog.stats();
  }

  /**
   * A write the store refused (any SQLite error: a full disk, a read-only or failing one), now in
   * the backlog. The traffic that made it goes on; a timer retries the backlog.
   */
  private deferred(err: InstanceType<typeof Database.SqliteError>): void {
    this.report(this.backlog.failed(`${err.code}: ${err.message}`, Date.now()));
    if (!this.retryTimer) {
      this.retryTimer = setInterval(() => this.retryBacklog(), BACKLOG_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private report(report: BacklogReport | undefined): void {
    if (report) this.reporter?.(report);
  }

  /** Writes everything pending in one transaction, in order; on failure it all stays for the next try. */
  private retryBacklog(): void {
    try {
      this.db.transaction(() => {
        for (const [name, value] of this.backlog.meta) this.stmts.setMeta.run(name, value);
        for (const r of this.backlog.audits()) this.stmts.audit.run(r.at, r.actor, r.action, r.detail);
      })();
    } catch (err) {
      if (err instanceof Database.SqliteError)
        this.report(this.backlog.failed(`${err.code}: ${err.message}`, Date.now()));
      return;
    }
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    this.report(this.backlog.written());
  }

  /** Changes whenever another connection (another process) commits: cheap to poll. */
  dataVersion(): number {
    return this.stmts.dataVersion.get() as number;
  }

  version(): number {
    return Number(this.meta('config_version') ?? 0);
  }

  meta(name: string): string | undefined {
    const pending = this.backlog.meta.get(name);
    if (pending !== undefined) return pending;
    const row = this.stmts.getMeta.get(name) as { value: string } | undefined;
    return row?.value;
  }

  /**
   * Server-local meta (role, primary, epoch), written as a side effect of cluster traffic: a store
   * that cannot take it keeps the value in memory (meta() answers with it) and writes it later.
   */
  setMeta(name: string, value: string): void {
    if (name === 'epoch') this.epochCache = null;
    if (this.backlog.empty) {
      try {
        this.stmts.setMeta.run(name, value);
        return;
      } catch (err) {
        if (!(err instanceof Database.SqliteError)) throw err;
        this.backlog.deferMeta(name, value);
        this.deferred(err);
        return;
      }
    }
    this.backlog.deferMeta(name, value);
  }

  /**
   * The cluster epoch this server follows (undefined when never set). Every connection's challenge
   * carries it, so it is kept in memory rather than read from SQLite each time: it is server-local
   * meta, written only by this process's roles through setMeta (not replicated, not written by
   * `config --data`), so the copy is dropped on that write and is never stale.
   */
  epoch(): number | undefined {
    if (this.epochCache === null) {
      const value = this.meta('epoch');
      this.epochCache = value === undefined ? undefined : Number(value);
    }
    return this.epochCache;
  }

  // ---- keys ----------------------------------------------------------------------------------
  keys(): Key[] {
    return (this.stmts.keys.all() as (Key & { previous: string | null; previousUntil: string | null })[]).map(
      ({ previous, previousUntil, ...key }) =>
        previous !== null && previousUntil !== null ? { ...key, previous, previousUntil } : key,
    );
  }

  /**
   * Gives a key a successor secret: `value` becomes what everyone should use, and the old secret
   * stays accepted until `until` (then it is refused with a message that says it was rotated).
   * A key whose previous secret is still accepted has a pending rotation: it must be retired first.
   */
  rotateKey(name: string, value: string, until: Date, now = new Date()): Key {
    if (value.length < 8 || value.length > 256) throw new ConfigError('a key value must be 8 to 256 characters');
    return this.change(() => {
      const key = this.keys().find((k) => k.name === name);
      if (!key) throw new ConfigError(`no key named ${name}`);
      if (key.previousUntil !== undefined && Date.parse(key.previousUntil) > now.getTime())
        throw new SwitchboardError(
          ErrorCodes.STATE_CONFLICT,
          `key ${name} has a pending successor (its old secret is accepted until ${key.previousUntil}): retire it first (config key retire ${name})`,
        );
      const previousUntil = until.toISOString();
      this.stmts.setKeySecrets.run(value, key.value, previousUntil, name);
      return { ...key, value, previous: key.value, previousUntil };
    });
  }

  /** Ends a rotation's grace period now: the old secret is refused from here on. */
  retireKey(name: string, now = new Date()): Key {
    return this.change(() => {
      const key = this.keys().find((k) => k.name === name);
      if (!key) throw new ConfigError(`no key named ${name}`);
      if (
        key.previous === undefined ||
        key.previousUntil === undefined ||
        Date.parse(key.previousUntil) <= now.getTime()
      )
        throw new SwitchboardError(ErrorCodes.STATE_CONFLICT, `key ${name} has no rotation to retire`);
      const previousUntil = now.toISOString();
      this.stmts.setKeySecrets.run(key.value, key.previous, previousUntil, name);
      return { ...key, previousUntil };
    });
  }

  addKey(name: string, value: string): Key {
    checkName('key', name);
    if (value.length < 8 || value.length > 256) throw new ConfigError('a key value must be 8 to 256 characters');
    const key = { name, value, createdAt: new Date().toISOString() };
    this.change(() => {
      if (this.keys().some((k) => k.name === name)) throw new ConfigError(`key ${name} exists already`, 'exists');
      this.stmts.addKey.run(key.name, key.value, key.createdAt, null, null);
    });
    return key;
  }

  removeKey(name: string): void {
    this.change(() => {
      if (this.stmts.removeKey.run(name).changes === 0) throw new ConfigError(`no key named ${name}`, 'missing');
    });
  }

  // ---- operators -----------------------------------------------------------------------------
  private static operatorFromRow(row: Record<string, unknown>): OperatorSecrets {
    return {
      name: row.name as string,
      role: row.role as OperatorRole,
      keys: JSON.parse(row.keys as string) as string[],
      hasTotp: row.totp_secret != null,
      createdAt: row.created_at as string,
      passwordHash: row.password_hash as string,
      totpSecret: (row.totp_secret as string | null) ?? null,
    };
  }

  operators(): Operator[] {
    return (this.stmts.operators.all() as Record<string, unknown>[]).map((row) => {
      const { passwordHash: _h, totpSecret: _t, ...visible } = ConfigStore.operatorFromRow(row);
      return visible;
    });
  }

  operatorCount(): number {
    return (this.stmts.operators.all() as unknown[]).length;
  }

  operatorSecrets(name: string): OperatorSecrets | undefined {
    const row = this.stmts.operator.get(name) as Record<string, unknown> | undefined;
    return row ? ConfigStore.operatorFromRow(row) : undefined;
  }

  /** Adds or replaces an operator; the caller hashes the password (see passwords.ts). */
  putOperator(op: { name: string; passwordHash: string; role: OperatorRole; keys: string[] }): void {
    checkName('operator', op.name);
    for (const k of op.keys) checkName('key', k);
    this.change(() => {
      const existing = this.operatorSecrets(op.name);
      this.stmts.upsertOperator.run({
        name: op.name,
        passwordHash: op.passwordHash,
        role: op.role,
        keys: JSON.stringify(op.keys),
        totpSecret: existing?.totpSecret ?? null,
        createdAt: existing?.createdAt ?? new Date().toISOString(),
      });
    });
  }

  removeOperator(name: string): void {
    this.change(() => {
      if (this.stmts.removeOperator.run(name).changes === 0)
        throw new ConfigError(`no operator named ${name}`, 'missing');
    });
  }

  setOperatorTotp(name: string, secret: string | null): void {
    this.change(() => {
      if (this.stmts.setTotp.run(secret, name).changes === 0)
        throw new ConfigError(`no operator named ${name}`, 'missing');
    });
  }

  // ---- servers -------------------------------------------------------------------------------
  servers(): ServerRow[] {
    return (this.stmts.servers.all() as Record<string, number | string>[]).map((row) => ({
      address: row.address as string,
      weight: row.weight as number,
      enabled: row.enabled === 1,
      secondary: row.secondary === 1,
    }));
  }

  addServer(row: ServerRow): void {
    checkServerAddress(row.address);
    this.change(() => {
      if (this.stmts.server.get(row.address)) throw new ConfigError(`server ${row.address} exists already`, 'exists');
      this.writeServer(row);
    });
  }

  setServer(address: string, patch: Partial<Omit<ServerRow, 'address'>>): ServerRow {
    return this.change(() => {
      const current = this.servers().find((s) => s.address === address);
      if (!current) throw new ConfigError(`no server ${address} in the server table`, 'missing');
      const next = { ...current, ...patch };
      this.writeServer(next);
      return next;
    });
  }

  private writeServer(row: ServerRow): void {
    if (!Number.isInteger(row.weight) || row.weight < 0)
      throw new ConfigError('weight must be a whole number, 0 or more');
    // At most one secondary: flagging one clears the others.
    if (row.secondary) this.stmts.clearSecondary.run(row.address);
    this.stmts.upsertServer.run({
      address: row.address,
      weight: row.weight,
      enabled: row.enabled ? 1 : 0,
      secondary: row.secondary ? 1 : 0,
    });
  }

  removeServer(address: string): void {
    this.change(() => {
      if (this.stmts.removeServer.run(address).changes === 0)
        throw new ConfigError(`no server ${address} in the server table`, 'missing');
    });
  }

  // ---- settings ------------------------------------------------------------------------------
  settings(): Settings {
    const out = defaultSettings() as unknown as Record<string, unknown>;
    for (const row of this.stmts.settings.all() as { name: string; value: string }[]) {
      if (isSettingName(row.name)) out[row.name] = JSON.parse(row.value);
    }
    return out as unknown as Settings;
  }

  setSetting(name: string, text: unknown): Settings[SettingName] {
    if (!isSettingName(name)) throw new ConfigError(`unknown setting ${name}`);
    let value: Settings[SettingName];
    try {
      value = parseSetting(name, text);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    this.change(() => this.stmts.setSetting.run(name, JSON.stringify(value)));
    return value;
  }

  // ---- API logouts ---------------------------------------------------------------------------
  /**
   * Records a logout; a configuration change, so it replicates. Lapsed entries go at the same time;
   * past MAX_LOGOUTS the entries nearest expiry are dropped (an operator would have to log out
   * 20,000 times within a session's lifetime for that).
   */
  addLogout(id: string, expiresAt: number, now = Date.now()): void {
    this.change(() => {
      this.stmts.expireLogouts.run(now);
      this.stmts.addLogout.run(id, expiresAt);
      this.stmts.trimLogouts.run(MAX_LOGOUTS);
    });
  }

  loggedOut(id: string): boolean {
    return this.stmts.loggedOut.get(id) !== undefined;
  }

  logouts(): Logout[] {
    return this.stmts.logouts.all() as Logout[];
  }

  // ---- replication ---------------------------------------------------------------------------
  snapshot(): ConfigSnapshot {
    return this.db.transaction(() => ({
      version: this.version(),
      keys: this.keys(),
      operators: (this.stmts.operators.all() as Record<string, unknown>[]).map((row) => {
        const { hasTotp: _t, ...op } = ConfigStore.operatorFromRow(row);
        return op;
      }),
      servers: this.servers(),
      settings: this.settings(),
      logouts: this.logouts(),
      deviceRules: this.deviceRules.all(),
    }))();
  }

  /**
   * Replaces the whole replicated configuration with a snapshot from the acting primary. Settings
   * this version does not know are skipped; a bad value is refused before anything is written.
   */
  applySnapshot(snap: Omit<ConfigSnapshot, 'settings'> & { settings: Record<string, unknown> }): void {
    const settings = Object.entries(snap.settings)
      .filter(([name]) => isSettingName(name))
      .map(([name, value]) => [name, parseSetting(name as SettingName, value)] as const);
    this.write(() => {
      this.db.exec('DELETE FROM keys; DELETE FROM operators; DELETE FROM servers; DELETE FROM settings;');
      for (const k of snap.keys)
        this.stmts.addKey.run(k.name, k.value, k.createdAt, k.previous ?? null, k.previousUntil ?? null);
      for (const op of snap.operators) {
        this.stmts.upsertOperator.run({ ...op, keys: JSON.stringify(op.keys) });
      }
      for (const s of snap.servers)
        this.stmts.upsertServer.run({
          address: s.address,
          weight: s.weight,
          enabled: s.enabled ? 1 : 0,
          secondary: s.secondary ? 1 : 0,
        });
      for (const [name, value] of settings) this.stmts.setSetting.run(name, JSON.stringify(value));
      if (snap.logouts) {
        this.db.exec('DELETE FROM logouts;');
        for (const l of snap.logouts.slice(-MAX_LOGOUTS)) this.stmts.addLogout.run(l.id, l.expiresAt);
      }
      // A snapshot from a server without device rules leaves ours as they are.
      if (snap.deviceRules) this.deviceRules.replace(snap.deviceRules);
      this.stmts.setMeta.run('config_version', String(snap.version));
    });
    this.configWrites++;
  }

  // ---- audit ---------------------------------------------------------------------------------
  /**
   * Records an event (a login, a failed login, a session closed). Never throws for the store's sake:
   * a record the store cannot take waits in the backlog (writeBacklog.ts), and one that arrives
   * while others wait queues behind them, so the log keeps its order.
   */
  audit(actor: string, action: string, detail: Record<string, unknown> = {}): void {
    const record = { at: new Date().toISOString(), actor, action, detail: JSON.stringify(detail) };
    if (this.backlog.empty) {
      try {
        this.stmts.audit.run(record.at, record.actor, record.action, record.detail);
        return;
      } catch (err) {
        if (!(err instanceof Database.SqliteError)) throw err;
        this.backlog.deferAudit(record);
        this.deferred(err);
        return;
      }
    }
    this.backlog.deferAudit(record);
  }

  auditLog(limit = 100): AuditEntry[] {
    return (this.stmts.auditLog.all(limit) as (Omit<AuditEntry, 'detail'> & { detail: string })[]).map((row) => ({
      ...row,
      detail: JSON.parse(row.detail) as Record<string, unknown>,
    }));
  }
}

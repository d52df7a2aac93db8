import { newSecret } from '../protocol/proof.js';
import { ConfigError, type ConfigStore, type Key, type Operator, type ServerRow } from './configStore.js';
import type { ConfigTarget, ConfigView, NewOperator, OperatorPatch, ServerPatch } from './configTarget.js';
import { hashPassword } from './passwords.js';
import type { DeviceTarget } from './deviceTarget.js';
import { StoreDeviceTarget, type LiveDevices } from './storeDeviceTarget.js';

/** How long a rotated key's old secret is accepted by default: long enough for machines away a week. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 14 * 24 * 3600;
import { newTotpSecret, totpUri } from './totp.js';

export const MIN_PASSWORD_LENGTH = 8;

/**
 * The configuration in a store, edited as `actor`: every change is validated here, written through
 * the store (which bumps the version) and audited in the same transaction (a full disk fails the
 * change whole, SB_ERR_STORE_FULL). `config --data` and the REST API both use it, so the rules are
 * the same whichever way an admin comes in.
 */
export class StoreConfigTarget implements ConfigTarget {
  constructor(
    private readonly store: ConfigStore,
    private readonly actor: string,
    /** Whether close() also closes the store (the CLI's own store, not the server's). */
    private readonly ownsStore = false,
    /** The running server's known devices (records not yet written, who is online). */
    private readonly live?: LiveDevices,
  ) {}

  deviceTarget(): DeviceTarget {
    return new StoreDeviceTarget(this.store, this.actor, this.live);
  }

  async rotateKey(name: string, graceSeconds = DEFAULT_ROTATION_GRACE_SECONDS, value?: string): Promise<Key> {
    if (!Number.isFinite(graceSeconds) || graceSeconds < 0 || graceSeconds > 366 * 24 * 3600)
      throw new ConfigError('the grace period must be 0 to 366 days');
    const until = new Date(Date.now() + graceSeconds * 1000);
    const key = this.store.changeAudited(
      this.actor,
      'key.rotate',
      () => this.store.rotateKey(name, value ?? newSecret(), until),
      (k) => ({ name, previousUntil: k.previousUntil }),
    );
    const { previous: _p, ...shown } = key;
    return shown;
  }

  async retireKey(name: string): Promise<Key> {
    const key = this.store.changeAudited(
      this.actor,
      'key.retire',
      () => this.store.retireKey(name),
      () => ({ name }),
    );
    const { previous: _p, ...shown } = key;
    return shown;
  }

  async keys(): Promise<Key[]> {
    return this.store.keys();
  }

  async addKey(name: string, value?: string): Promise<Key> {
    return this.store.changeAudited(
      this.actor,
      'key.add',
      () => this.store.addKey(name, value ?? newSecret()),
      () => ({ name }),
    );
  }

  async removeKey(name: string): Promise<void> {
    this.store.changeAudited(
      this.actor,
      'key.remove',
      () => this.store.removeKey(name),
      () => ({ name }),
    );
  }

  async operators(): Promise<Operator[]> {
    return this.store.operators();
  }

  private operator(name: string): Operator {
    const op = this.store.operators().find((o) => o.name === name);
    if (!op) throw new ConfigError(`no operator named ${name}`, 'missing');
    return op;
  }

  private checkKeys(keys: string[]): void {
    const known = new Set(this.store.keys().map((k) => k.name));
    const unknown = keys.filter((k) => !known.has(k));
    if (unknown.length) throw new ConfigError(`unknown key: ${unknown.join(', ')}`);
  }

  private static checkPassword(password: string): void {
    if (password.length < MIN_PASSWORD_LENGTH)
      throw new ConfigError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }

  /** Nobody may remove or demote the last admin: the console would have no one left to fix it. */
  private checkAdminsLeft(without: string): void {
    const others = this.store.operators().filter((o) => o.role === 'admin' && o.name !== without);
    if (others.length === 0) throw new ConfigError(`${without} is the last admin; add another admin first`);
  }

  async addOperator(op: NewOperator): Promise<Operator> {
    StoreConfigTarget.checkPassword(op.password);
    this.checkKeys(op.keys);
    const existing = this.store.operators().find((o) => o.name === op.name);
    if (existing?.role === 'admin' && op.role !== 'admin') this.checkAdminsLeft(op.name);
    const passwordHash = await hashPassword(op.password);
    this.store.changeAudited(
      this.actor,
      'operator.add',
      () => this.store.putOperator({ name: op.name, passwordHash, role: op.role, keys: op.keys }),
      () => ({ name: op.name, role: op.role, keys: op.keys }),
    );
    return this.operator(op.name);
  }

  async updateOperator(name: string, patch: OperatorPatch): Promise<Operator> {
    const current = this.store.operatorSecrets(name);
    if (!current) throw new ConfigError(`no operator named ${name}`, 'missing');
    if (patch.password !== undefined) StoreConfigTarget.checkPassword(patch.password);
    if (patch.keys) this.checkKeys(patch.keys);
    if (current.role === 'admin' && patch.role === 'operator') this.checkAdminsLeft(name);
    const passwordHash = patch.password !== undefined ? await hashPassword(patch.password) : current.passwordHash;
    const role = patch.role ?? current.role;
    const keys = patch.keys ?? current.keys;
    this.store.changeAudited(
      this.actor,
      'operator.update',
      () => this.store.putOperator({ name, passwordHash, role, keys }),
      () => ({ name, role, keys, password: patch.password !== undefined ? 'changed' : undefined }),
    );
    return this.operator(name);
  }

  async enrolTotp(name: string): Promise<{ uri: string }> {
    const secret = newTotpSecret();
    this.store.changeAudited(
      this.actor,
      'operator.totp',
      () => this.store.setOperatorTotp(name, secret),
      () => ({ name }),
    );
    return { uri: totpUri(name, secret) };
  }

  async removeOperator(name: string): Promise<void> {
    if (this.operator(name).role === 'admin') this.checkAdminsLeft(name);
    this.store.changeAudited(
      this.actor,
      'operator.remove',
      () => this.store.removeOperator(name),
      () => ({ name }),
    );
  }

  async servers(): Promise<ServerRow[]> {
    return this.store.servers();
  }

  async addServer(row: ServerRow): Promise<ServerRow> {
    this.store.changeAudited(
      this.actor,
      'server.add',
      () => this.store.addServer(row),
      () => ({ ...row }),
    );
    return row;
  }

  async setServer(address: string, patch: ServerPatch): Promise<ServerRow> {
    return this.store.changeAudited(
      this.actor,
      'server.set',
      () => this.store.setServer(address, patch),
      (row) => ({ ...row }),
    );
  }

  async removeServer(address: string): Promise<void> {
    this.store.changeAudited(
      this.actor,
      'server.remove',
      () => this.store.removeServer(address),
      () => ({ address }),
    );
  }

  async setSetting(name: string, value: unknown): Promise<{ name: string; value: unknown }> {
    const parsed = this.store.changeAudited(
      this.actor,
      'setting.set',
      () => this.store.setSetting(name, value),
      (parsed) => ({ name, value: parsed }),
    );
    return { name, value: parsed };
  }

  async show(): Promise<ConfigView> {
    return {
      version: this.store.version(),
      settings: this.store.settings(),
      keys: this.store.keys().map((k) => ({ name: k.name, createdAt: k.createdAt })),
      operators: this.store.operators(),
      servers: this.store.servers(),
    };
  }

  async close(): Promise<void> {
    if (this.ownsStore) this.store.close();
  }
}

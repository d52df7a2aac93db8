import type { Key, Operator, OperatorRole, ServerRow } from './configStore.js';
import type { Settings } from './settings.js';
import type { DeviceTarget } from './deviceTarget.js';

/** `config show --json`: everything but secrets (key values, password hashes, TOTP secrets). */
export interface ConfigView {
  version: number;
  settings: Settings;
  keys: { name: string; createdAt: string }[];
  operators: Operator[];
  servers: ServerRow[];
}

export interface NewOperator {
  name: string;
  role: OperatorRole;
  keys: string[];
  password: string;
}

export type OperatorPatch = Partial<Omit<NewOperator, 'name'>>;

export type ServerPatch = Partial<Omit<ServerRow, 'address'>>;

/**
 * The configuration as the `config` subcommands and the REST API edit it. One implementation writes
 * a data directory's store (offline, and inside the server behind the API); another speaks to the
 * acting primary's REST API. Each subcommand is written once, against this interface.
 */
export interface ConfigTarget {
  keys(): Promise<Key[]>;
  /** Adds a key; a random value when none is given. Returns it with its value, shown once. */
  addKey(name: string, value?: string): Promise<Key>;
  removeKey(name: string): Promise<void>;
  /** Gives the key a successor secret (random when none is given), returned once; the old one is accepted for `graceSeconds`. */
  rotateKey(name: string, graceSeconds?: number, value?: string): Promise<Key>;
  /** Ends a rotation's grace now: the old secret is refused from here on. */
  retireKey(name: string): Promise<Key>;
  /** Known devices, on the same store or server. */
  deviceTarget(): DeviceTarget;

  operators(): Promise<Operator[]>;
  /** Adds an operator, or replaces one of that name (password, role and keys). */
  addOperator(op: NewOperator): Promise<Operator>;
  updateOperator(name: string, patch: OperatorPatch): Promise<Operator>;
  /** Enrols (or re-enrols) the operator in TOTP; the URI carries the new secret, shown once. */
  enrolTotp(name: string): Promise<{ uri: string }>;
  removeOperator(name: string): Promise<void>;

  servers(): Promise<ServerRow[]>;
  addServer(row: ServerRow): Promise<ServerRow>;
  setServer(address: string, patch: ServerPatch): Promise<ServerRow>;
  removeServer(address: string): Promise<void>;

  setSetting(name: string, value: unknown): Promise<{ name: string; value: unknown }>;
  show(): Promise<ConfigView>;

  close(): Promise<void>;
}

import { z } from 'zod';
import { HEARTBEAT_SECONDS } from '../protocol/messages.js';

/**
 * Cluster-wide settings: edited on the acting primary and replicated. Each has a CLI name, a parser
 * for the text a user types, and a default. Server-local settings (listen address, TLS files, data
 * directory) are command-line flags and never live here.
 */
export const settingDefinitions = {
  'primary-weight': { schema: z.coerce.number().int().min(0).max(1_000_000), default: 900 },
  'require-tls': {
    schema: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .or(z.boolean()),
    default: false,
  },
  heartbeat: { schema: z.coerce.number().min(HEARTBEAT_SECONDS.min).max(HEARTBEAT_SECONDS.max), default: 30 },
  'hello-timeout': { schema: z.coerce.number().min(0.5).max(300), default: 10 },
  'lockout-attempts': { schema: z.coerce.number().int().min(1).max(1000), default: 5 },
  /** New client connections admitted per second (bursts of twice that); the rest back off. */
  'admission-rate': { schema: z.coerce.number().int().min(1).max(1_000_000), default: 2000 },
  'max-connections-per-address': { schema: z.coerce.number().int().min(1).max(1_000_000), default: 1000 },
  /** A new identity that proves the key waits, pending, until an admin approves it (devices already known do not). */
  'device-approval': {
    schema: z
      .enum(['on', 'off', 'true', 'false'])
      .transform((v) => v === 'on' || v === 'true')
      .or(z.boolean()),
    default: false,
  },
} as const;

export type SettingName = keyof typeof settingDefinitions;

export type Settings = {
  'primary-weight': number;
  'require-tls': boolean;
  heartbeat: number;
  'hello-timeout': number;
  'lockout-attempts': number;
  'admission-rate': number;
  'max-connections-per-address': number;
  'device-approval': boolean;
};

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(settingDefinitions, name);
}

/** Parses a user's text (or a replicated JSON value) for a setting; throws a readable Error. */
export function parseSetting(name: SettingName, value: unknown): Settings[SettingName] {
  const result = settingDefinitions[name].schema.safeParse(value);
  if (!result.success) throw new Error(`invalid value for ${name}: ${String(value)}`);
  return result.data as Settings[SettingName];
}

export function defaultSettings(): Settings {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(settingDefinitions)) out[name] = def.default;
  return out as unknown as Settings;
}
